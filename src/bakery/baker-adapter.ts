/**
 * The one place where the bakery meets the in-process baker: implements the bakery's BakeExecutor
 * with `prepareBake` (so the bake key is the baker's own, content digests included) and `bakeImage`
 * on a provider. The job runner, store and server know the baker only through that interface.
 */
import { bakeImage, prepareBake, type BakeRequest } from '../baker/index.js';
import { ConfigError } from '../common/errors.js';
import { KEPT_TAG, TESTED_TAG } from '../common/image-tags.js';
import type { BakeExecutor, ExecutorRequest } from './executor.js';
import type { BakedImage } from './model.js';
import type { ImageManifest, Provider } from '../providers/provider.js';

function bakeRequest(request: ExecutorRequest, sshUser: string): BakeRequest {
  return {
    baseImage: request.baseImage,
    packageFiles: request.packageFiles,
    packages: request.packages,
    ...(request.provisionScript !== undefined ? { provisionScript: request.provisionScript } : {}),
    strategy: request.strategy,
    sshUser,
  };
}

function bakedImage(image: ImageManifest): BakedImage {
  return {
    id: image.id,
    name: image.name,
    baseImageId: image.parent ?? '',
    createdAt: image.createdAt,
    tags: image.tags,
  };
}

export function bakerExecutor(
  provider: Provider,
  options: { home: string; region: string | null },
): BakeExecutor {
  // The login user of the distribution's images for an instance bake (root on local images).
  const sshUser = provider.name === 'local' ? 'root' : 'admin';
  return {
    provider: provider.name,
    region: options.region,
    async bakeKeyOf(request) {
      return (await prepareBake(provider, bakeRequest(request, sshUser))).bakeKey;
    },
    async imageAlive(imageId) {
      const image = await provider.describeImage(imageId);
      if (!image) return false;
      const expires = image.tags['ovenproof:expires-at'];
      return image.tags['ovenproof:kept'] === 'true' || !expires || Date.parse(expires) > Date.now();
    },
    async bake(request, ctx) {
      await provider.prepareBaseImage?.(ctx, request.baseImage);
      const outcome = await bakeImage(provider, bakeRequest(request, sshUser), ctx, { home: options.home });
      return {
        image: bakedImage(outcome.image),
        bakeKey: outcome.bakeKey,
        cacheHit: outcome.cacheHit,
        durationsMs: outcome.durationsMs,
      };
    },
    async listImages() {
      const images = (await provider.listImages()).filter((image) => image.bakeKey !== null);
      return images.map((image) => ({
        ...bakedImage(image),
        bakeKey: image.bakeKey,
        expiresAt: image.tags['ovenproof:expires-at'] ?? null,
      }));
    },
    async promote({ image }, wanted, ctx) {
      await provider.tagImage(ctx, image.id, {
        [KEPT_TAG]: 'true',
        ...(wanted.tested ? { [TESTED_TAG]: wanted.tested } : {}),
      });
      ctx.log.info(`promoted image ${image.id}`);
      const elsewhere = wanted.regions.filter((region) => region !== options.region);
      if (elsewhere.length === 0) return { copies: [] };
      if (!provider.copyImage)
        throw new ConfigError(`regions: the ${provider.name} provider cannot copy images to other regions`);
      return { copies: await provider.copyImage(ctx, image.id, elsewhere) };
    },
    deleteResource: async (entry, log) => {
      await provider.deleteResource(entry, log);
    },
  };
}
