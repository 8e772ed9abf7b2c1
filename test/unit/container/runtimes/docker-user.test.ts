import { describe, expect, it } from 'vitest';
import { isRootUser } from '../../../../src/container/runtimes/docker.js';

describe('isRootUser: which image USER would leave a workload root (it then runs as 65534)', () => {
  it.each(['', ' ', 'root', '0', '0:0', 'root:root', '1000:0', '1000:root', '0:1000', 'root:1000'])(
    '%j is root (or root group)',
    (user) => expect(isRootUser(user)).toBe(true),
  );
  it.each(['1000', '1000:1000', 'app', 'app:app', 'nobody', '65534:65534', '10:100'])('%j is not', (user) =>
    expect(isRootUser(user)).toBe(false),
  );
});
