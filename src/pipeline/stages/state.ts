/**
 * What the pipeline's stages share: the run's inputs (`PipelineDeps`) and the state bag each stage
 * reads and fills in (`RunState`).
 */
import type { Logger } from '../../common/log.js';
import type { StepTiming } from '../../common/steps.js';
import type { BakeOutcome } from '../../baker/index.js';
import type { InstanceInfo, Provider, RunContext } from '../../providers/provider.js';
import type { TestsSummary } from '../../results/model.js';
import type { DebugSsh, StageName } from '../../common/run-result.js';
import type { PriceTable } from '../../common/prices.js';
import type { KeyPair } from '../../ssh/index.js';
import type { SshSession } from '../../ssh/session.js';
import type { FailureImageRecord } from '../failure-snapshot.js';
import type { Config } from '../config.js';
import type { PipelineEvents } from '../events.js';
import type { Ledger } from '../ledger.js';
import type { OutputTail } from './build.js';
import type { ImageFate } from '../image-lifecycle.js';
import type { BakeryConnection } from '../remote-bake.js';

export type PipelineMode = 'run' | 'bake';

export interface PipelineDeps {
  config: Config;
  provider: Provider;
  /** Serialisable settings that rebuild the provider in the post step / `sweep --ledger`. */
  providerSettings: Record<string, unknown>;
  events: PipelineEvents;
  log: Logger;
  signal: AbortSignal;
  /** Per-run directory for the ledger, keys and fetched result files. */
  workDir: string;
  commit: string | null;
  /** Repository root (git top level) for mapping failures to tracked files; null outside git. */
  repoRoot: string | null;
  /** `owner/name`, tagged on cloud resources. */
  repository: string | null;
  /** Called as soon as the ledger exists (the Action saves its path for the post step). */
  onLedger?: (path: string) => void;
  /** Prices for the run's cost estimate; default the built-in table. */
  prices?: PriceTable;
  /** With `baker-url`: connects to the bakery (asked at bake time, so an OIDC token is fresh). */
  bakery?: (() => Promise<BakeryConnection>) | null;
  /** Restores a saved bake-cache image by bake key before the baker looks for one (Actions cache). */
  restoreCachedBake?: (bakeKey: string) => Promise<unknown>;
}

export interface RunState {
  deps: PipelineDeps;
  mode: PipelineMode;
  ctx: RunContext;
  ledger: Ledger;
  packageFiles: string[];
  buildTail: OutputTail;
  buildFailed: boolean;
  bake: BakeOutcome | null;
  /** The bakery URL when the bake happened in a bakery (`image.bakedBy`). */
  bakedBy: string | null;
  /** Promotion and cache expiry of the image, once held and again once settled. */
  imageFate: ImageFate | null;
  imageCopies: Array<{ region: string; id: string }>;
  instance: InstanceInfo | null;
  /** Ledger keys of everything the launch created (instance, security group, watchdog…). */
  launchKeys: string[];
  clientKey: KeyPair | null;
  tests: TestsSummary;
  testsFailed: boolean;
  resultFiles: string[];
  /** True once the report stage found every test passing; the keep policies read it in cleanup. */
  succeeded: boolean;
  /** The SSH session the launch opened; the test stage uses it, the launch's cleanup closes it. */
  session: SshSession | null;
  /** The test command ran into test-timeout (a failure worth a snapshot, like failing tests). */
  testTimedOut: boolean;
  failureImage: FailureImageRecord | null;
  /** Key files of an instance kept for debugging (keep-instance: on-failure). */
  debugSsh: DebugSsh | null;
  /** Timed steps inside the stages (launch: request, boot, ssh; test: command, results; teardown: each deletion). */
  stageSteps: Partial<Record<StageName, StepTiming[]>>;
}
