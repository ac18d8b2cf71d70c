/**
 * The built-in EC2 price table behind a run's cost estimate: on-demand Linux prices in USD for a few
 * common instance types and regions, plus gp3 EBS and snapshot storage per GB-month. Anything not in
 * here (another type, another region, spot capacity) is estimated as unknown rather than guessed; a team
 * with other types or negotiated prices points OVENPROOF_PRICES at a file of the same shape.
 * The date in `source` is when the figures were written down; AWS changes prices rarely but does:
 * refresh the table (and its date) from the pages named there.
 */

export interface RegionPrices {
  /** USD per instance-hour, on-demand, Linux, shared tenancy. */
  instanceHourly: Record<string, number>;
  /** USD per GB-month of gp3 volume storage (root volumes of test instances, bake volumes). */
  volumeGbMonth: number;
  /** USD per GB-month of standard EBS snapshot storage (images, failure snapshots). */
  snapshotGbMonth: number;
}

export interface PriceTable {
  /** Where the prices come from and when they were read, shown next to every estimate. */
  source: string;
  regions: Record<string, RegionPrices>;
}

/** Hours in the "month" AWS bills GB-months against. */
export const HOURS_PER_MONTH = 730;

export const BUILTIN_PRICES: PriceTable = {
  source:
    'ovenproof built-in table (recorded 2026-12-02): AWS public on-demand list prices, Linux ' +
    '(aws.amazon.com/ec2/pricing/on-demand, aws.amazon.com/ebs/pricing)',
  regions: {
    'us-east-1': {
      instanceHourly: {
        't3.micro': 0.0104,
        't3.small': 0.0208,
        't3.medium': 0.0416,
        't3.large': 0.0832,
        't3.xlarge': 0.1664,
        't3a.small': 0.0188,
        't3a.medium': 0.0376,
        't4g.small': 0.0168,
        't4g.medium': 0.0336,
        'm5.large': 0.096,
        'm6i.large': 0.096,
        'c5.large': 0.085,
        'c6i.large': 0.085,
      },
      volumeGbMonth: 0.08,
      snapshotGbMonth: 0.05,
    },
    'us-west-2': {
      instanceHourly: {
        't3.micro': 0.0104,
        't3.small': 0.0208,
        't3.medium': 0.0416,
        't3.large': 0.0832,
        't3.xlarge': 0.1664,
        't3a.small': 0.0188,
        't3a.medium': 0.0376,
        't4g.small': 0.0168,
        't4g.medium': 0.0336,
        'm5.large': 0.096,
        'm6i.large': 0.096,
        'c5.large': 0.085,
        'c6i.large': 0.085,
      },
      volumeGbMonth: 0.08,
      snapshotGbMonth: 0.05,
    },
    'eu-west-1': {
      instanceHourly: {
        't3.micro': 0.0114,
        't3.small': 0.0228,
        't3.medium': 0.0456,
        't3.large': 0.0912,
        't3.xlarge': 0.1824,
        'm5.large': 0.107,
        'm6i.large': 0.107,
        'c5.large': 0.096,
        'c6i.large': 0.096,
      },
      volumeGbMonth: 0.088,
      snapshotGbMonth: 0.05,
    },
    'eu-central-1': {
      instanceHourly: {
        't3.micro': 0.012,
        't3.small': 0.024,
        't3.medium': 0.048,
        't3.large': 0.096,
        't3.xlarge': 0.192,
        'm5.large': 0.115,
        'm6i.large': 0.115,
        'c5.large': 0.097,
        'c6i.large': 0.097,
      },
      volumeGbMonth: 0.0952,
      snapshotGbMonth: 0.054,
    },
  },
};
