/**
 * The EC2 implementation of the Provider contract on @aws-sdk/client-ec2: each method hands over to
 * the module of its resource (images, image-create, volumes, instances, security groups, cleanup,
 * sweep), all sharing one `Ec2Core` (settings, clients, logger, ledger bookkeeping).
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { Logger } from '../../common/log.js';
import type {
  FailureImageRequest,
  ImageManifest,
  ImageQuery,
  InstanceInfo,
  LaunchSpec,
  LedgerEntry,
  Provider,
  RunContext,
  SweepOptions,
  SweptResource,
} from '../provider.js';
import { deleteResource } from './cleanup.js';
import { Ec2Core } from './core.js';
import { createImageFromInstance, registerImage } from './image-create.js';
import { createFailureImage } from './failure-image.js';
import {
  copyImage,
  deleteImage,
  describeImage,
  listImages,
  tagImage,
  untagImage,
  waitImage,
  type ImageCopy,
} from './images.js';
import { whyInstanceEnded } from './instance-state.js';
import { consoleOutput, launch, stopInstance, terminate } from './instances.js';
import type { Ec2ProviderOptions, Ec2Settings } from './settings.js';
import { sweepRegion } from './sweep.js';
import {
  attachVolume,
  createVolume,
  deleteVolume,
  detachVolume,
  snapshotVolume,
  volumeBakeUnsupported,
} from './volumes.js';

export type { ImageCopy } from './images.js';

type NewManifest = Omit<ImageManifest, 'id' | 'createdAt'>;

export class Ec2Provider implements Provider {
  readonly name = 'ec2' as const;
  private readonly core: Ec2Core;

  constructor(options: Ec2ProviderOptions) {
    this.core = new Ec2Core(options);
  }

  get settings(): Ec2Settings {
    return this.core.settings;
  }

  /** Plain JSON that rebuilds this provider in another process (`createEc2Provider(json)`). */
  toJSON(): Ec2Settings {
    return this.core.settings;
  }

  client(region?: string): EC2Client {
    return this.core.client(region);
  }

  listImages(query?: ImageQuery): Promise<ImageManifest[]> {
    return listImages(this.core, query);
  }

  describeImage(id: string): Promise<ImageManifest | null> {
    return describeImage(this.core, id);
  }

  tagImage(ctx: RunContext, id: string, tags: Record<string, string>): Promise<void> {
    return tagImage(this.core, ctx, id, tags);
  }

  untagImage(_ctx: RunContext, id: string, keys: string[]): Promise<void> {
    return untagImage(this.core, id, keys);
  }

  async deregisterImage(ctx: RunContext, id: string): Promise<void> {
    await deleteImage(this.core, this.core.client(), id, ctx.log);
    await this.core.forget(ctx, id);
  }

  copyImage(ctx: RunContext, imageId: string, regions?: string[]): Promise<ImageCopy[]> {
    return copyImage(this.core, ctx, imageId, regions);
  }

  volumeBakeUnsupported(): Promise<string | null> {
    return volumeBakeUnsupported(this.core);
  }

  createVolume(ctx: RunContext, imageId: string): Promise<{ id: string }> {
    return createVolume(this.core, ctx, imageId);
  }

  attachVolume(ctx: RunContext, volumeId: string): Promise<{ device: string }> {
    return attachVolume(this.core, ctx, volumeId);
  }

  detachVolume(ctx: RunContext, volumeId: string): Promise<void> {
    return detachVolume(this.core, ctx, volumeId);
  }

  snapshotVolume(ctx: RunContext, volumeId: string): Promise<{ id: string }> {
    return snapshotVolume(this.core, ctx, volumeId);
  }

  deleteVolume(ctx: RunContext, volumeId: string): Promise<void> {
    return deleteVolume(this.core, ctx, volumeId);
  }

  registerImage(
    ctx: RunContext,
    from: { snapshotId: string; manifest: NewManifest },
  ): Promise<ImageManifest> {
    return registerImage(this.core, ctx, from);
  }

  launch(ctx: RunContext, spec: LaunchSpec): Promise<InstanceInfo> {
    return launch(this.core, ctx, spec);
  }

  stopInstance(ctx: RunContext, id: string): Promise<void> {
    return stopInstance(this.core, ctx, id);
  }

  captureFailureImage(
    ctx: RunContext,
    instanceId: string,
    request: FailureImageRequest,
  ): Promise<ImageManifest> {
    const client = this.core.client();
    return createFailureImage(
      {
        client,
        region: this.core.settings.region,
        remember: (key, id, data) => this.core.remember(ctx, key, id, data),
        waitAvailable: (id) => waitImage(this.core, client, id, ctx.signal),
        discard: (id) => this.deregisterImage(ctx, id),
      },
      ctx,
      instanceId,
      request,
    );
  }

  createImageFromInstance(
    ctx: RunContext,
    instanceId: string,
    manifest: NewManifest,
  ): Promise<ImageManifest> {
    return createImageFromInstance(this.core, ctx, instanceId, manifest);
  }

  terminate(ctx: RunContext, id: string): Promise<void> {
    return terminate(this.core, ctx, id);
  }

  consoleOutput(id: string): Promise<string> {
    return consoleOutput(this.core, id);
  }

  whyInstanceEnded(id: string): Promise<string | null> {
    return whyInstanceEnded(this.core, id);
  }

  deleteResource(entry: LedgerEntry, log: Logger = this.core.log): Promise<string | null> {
    return deleteResource(this.core, entry, log);
  }

  async sweep(options: SweepOptions, log: Logger = this.core.log): Promise<SweptResource[]> {
    const { settings } = this.core;
    const regions = options.regions?.length ? options.regions : [settings.region, ...settings.regions];
    const out: SweptResource[] = [];
    for (const region of [...new Set(regions)])
      out.push(...(await sweepRegion(this.core, region, options, log)));
    return out;
  }
}

export function createEc2Provider(options: Ec2ProviderOptions): Ec2Provider {
  return new Ec2Provider(options);
}
