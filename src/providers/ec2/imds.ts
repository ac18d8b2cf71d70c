/**
 * IMDSv2 client: detects whether ovenproof runs on an EC2 instance (the volume bake needs a baker
 * host in the volume's AZ) and reads the host's instance id and placement. Token first (PUT), then
 * GETs with the token; short timeouts so that detection off EC2 costs about a second.
 */
export interface HostIdentity {
  instanceId: string;
  region: string;
  availabilityZone: string;
}

export class Imds {
  private token: { value: string; until: number } | null = null;

  constructor(
    private readonly base: string,
    private readonly timeoutMs: number,
  ) {}

  private async getToken(): Promise<string> {
    if (this.token && this.token.until > Date.now()) return this.token.value;
    const res = await fetch(new URL('/latest/api/token', this.base), {
      method: 'PUT',
      headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '21600' },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new Error(`IMDSv2 token request answered HTTP ${res.status}`);
    const value = await res.text();
    this.token = { value, until: Date.now() + 6 * 3600_000 - 60_000 };
    return value;
  }

  async get(path: string): Promise<string> {
    const token = await this.getToken();
    const res = await fetch(new URL(`/latest/${path}`, this.base), {
      headers: { 'X-aws-ec2-metadata-token': token },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new Error(`IMDS ${path} answered HTTP ${res.status}`);
    return (await res.text()).trim();
  }

  async host(): Promise<HostIdentity> {
    const [instanceId, availabilityZone, region] = await Promise.all([
      this.get('meta-data/instance-id'),
      this.get('meta-data/placement/availability-zone'),
      this.get('meta-data/placement/region'),
    ]);
    return { instanceId, availabilityZone, region };
  }
}
