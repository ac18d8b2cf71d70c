/** The bakery: a long-running bake service (server side) and the HTTP client the pipeline uses. */
export { startBakery, type BakerySettings, type RunningBakery } from './start.js';
export { bakerExecutor } from './baker-adapter.js';
export { Authenticator, createToken, GITHUB_ACTIONS_ISSUER, repoAllowed } from './auth.js';
export { BakeryClient, type RemoteBake, type RemoteEvent } from './client.js';
export type { BakeExecutor, ExecutorRequest, ExecutorOutcome } from './executor.js';
export type { JobStore } from './store.js';
