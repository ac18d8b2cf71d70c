/** The EC2 provider: `createEc2Provider(options)` and the pieces other layers and tests reuse. */
export { Ec2Provider, createEc2Provider, type ImageCopy } from './provider.js';
export {
  parseEc2Settings,
  ec2SettingsSchema,
  type Ec2Settings,
  type Ec2SettingsInput,
  type Ec2ProviderOptions,
} from './settings.js';
export { Ec2Error } from './aws.js';
export { ec2ProviderEntry } from './entry.js';
export {
  buildUserData,
  cloudConfig,
  parseUserData,
  type ParsedUserData,
  type UserDataInput,
} from './user-data.js';
export { TAG as EC2_TAGS, encodePackages, decodePackages } from './tags.js';
