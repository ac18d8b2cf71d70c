/**
 * The EC2 half of a failure snapshot: CreateImage of the failing test instance without rebooting it (the
 * caller syncs the guest's file systems first; a reboot would lose the state worth looking at and delay
 * teardown), tagged as a failure image with its own expiry, journaled as kept. An image that fails to
 * become available is deregistered with its snapshots, so a failed capture leaves nothing behind.
 */
import { CreateImageCommand, type EC2Client, type Image } from '@aws-sdk/client-ec2';
import { errorMessage } from '../../common/errors.js';
import { failureImageTags } from '../failure-image.js';
import type { FailureImageRequest, ImageManifest, RunContext } from '../provider.js';
import { call } from './aws.js';
import { TAG, isoSeconds, manifestFromImage, runTags, tagSpecs } from './tags.js';

export interface FailureImageDeps {
  client: EC2Client;
  region: string;
  /** Records the new image id in the journal and the provider's own index. */
  remember(key: string, id: string, data?: Record<string, string>): Promise<void>;
  waitAvailable(id: string): Promise<Image>;
  /** Deregisters a capture that did not work out, with its snapshots. */
  discard(id: string): Promise<void>;
}

export async function createFailureImage(
  deps: FailureImageDeps,
  ctx: RunContext,
  instanceId: string,
  request: FailureImageRequest,
): Promise<ImageManifest> {
  const stamp = isoSeconds(new Date()).replace(/:/g, '');
  const name = `ovenproof-failure-of-${ctx.runId}-${stamp}`.slice(0, 128);
  const key = `image:${name}`;
  const failureTags = failureImageTags(ctx.runId, request);
  const tags = {
    ...runTags(ctx, key, { Name: name }),
    ...failureTags,
    // The failure image outlives the run: its expiry is failure-snapshot-ttl, not the run's.
    [TAG.expiresAt]: failureTags[TAG.expiresAt]!,
  };
  await ctx.journal.intend({ key, provider: 'ec2', kind: 'image', region: deps.region, data: { name } });
  const res = await call('CreateImage', () =>
    deps.client.send(
      new CreateImageCommand({
        InstanceId: instanceId,
        Name: name,
        Description: `ovenproof failure snapshot of run ${ctx.runId} (instance ${instanceId})`,
        NoReboot: true,
        TagSpecifications: tagSpecs(['image', 'snapshot'], tags),
      }),
    ),
  );
  const id = res.ImageId!;
  await deps.remember(key, id);
  let image: Image;
  try {
    image = await deps.waitAvailable(id);
  } catch (error) {
    await deps
      .discard(id)
      .catch((cleanup: unknown) =>
        ctx.log.warn(`could not remove the failed failure image ${id}: ${errorMessage(cleanup)}`),
      );
    throw error;
  }
  await ctx.journal.kept(key);
  return manifestFromImage(image);
}
