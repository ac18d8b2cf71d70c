import { describe, expect, it } from 'vitest';
import { errorMessage } from '../../src/common/errors.js';

describe('errorMessage', () => {
  it('is the error message when there is one', () => {
    expect(errorMessage(new Error('device /dev/nvme1n1 never appeared'))).toBe(
      'device /dev/nvme1n1 never appeared',
    );
    expect(errorMessage('a thrown string')).toBe('a thrown string');
    expect(errorMessage({ message: 'an SDK-like object' })).toBe('an SDK-like object');
  });

  it('never comes out empty or as a bare "Error" when the message is missing', () => {
    expect(errorMessage(new Error())).toBe('an error without a message');
    expect(errorMessage(new TypeError(''))).toBe('TypeError without a message');
    class TimeoutError extends Error {}
    expect(errorMessage(new TimeoutError())).toBe('TimeoutError without a message');
    expect(errorMessage(new Error('', { cause: new Error('socket hang up') }))).toBe(
      'an error without a message: cause: socket hang up',
    );
    expect(errorMessage(undefined)).toBe('no error details (undefined)');
  });

  it("names the code and the aggregated errors of Node's AggregateError of a failed connect", () => {
    const refused = Object.assign(
      new AggregateError(
        [new Error('connect ECONNREFUSED ::1:22'), new Error('connect ECONNREFUSED 127.0.0.1:22')],
        '',
      ),
      { code: 'ECONNREFUSED' },
    );
    expect(errorMessage(refused)).toBe(
      'AggregateError without a message (ECONNREFUSED): connect ECONNREFUSED ::1:22; connect ECONNREFUSED 127.0.0.1:22',
    );
  });
});
