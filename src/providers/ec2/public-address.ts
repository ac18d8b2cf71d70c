/**
 * Default resolver of the runner's public IPv4 address, used for the temporary security group's
 * ingress rule (port 22 from <address>/32). Called at run time only when neither `sshCidr` nor
 * `securityGroupId` is set; tests always inject their own resolver.
 */
const CHECKIP_URL = 'https://checkip.amazonaws.com/';

export async function detectPublicAddress(timeoutMs = 10_000): Promise<string> {
  const res = await fetch(CHECKIP_URL, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${CHECKIP_URL} answered HTTP ${res.status}`);
  const text = (await res.text()).trim();
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) {
    throw new Error(`${CHECKIP_URL} did not answer an IPv4 address; set ssh-cidr or security-group-id`);
  }
  return text;
}
