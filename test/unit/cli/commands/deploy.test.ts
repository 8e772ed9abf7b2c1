import { describe, expect, it } from 'vitest';
import { defaultDeploymentName, leaseWorkloadFor } from '../../../../src/cli/commands/deploy.js';
import { SdlError, planSdl, rateUnits } from '../../../../src/sdk/sdl.js';

describe('deploy command helpers', () => {
  it('a default name from the file name', () => {
    expect(defaultDeploymentName('/x/Llama-3.3-70B__deploy.yaml')).toBe('llama-3-3-70b-deploy');
    expect(defaultDeploymentName('deploy.yml')).toBe('deploy');
    expect(defaultDeploymentName('___.yaml')).toBe('deployment');
  });

  it('rates: ATH per token, exact to 18 decimals; zero, negatives and exponents refused', () => {
    expect(rateUnits('2.5', '--act-rate')).toBe(2_500_000_000_000_000_000n);
    expect(rateUnits('0.000000000000000001', '--akt-rate')).toBe(1n);
    expect(() => rateUnits('0', '--akt-rate')).toThrow('--akt-rate must be more than zero');
    for (const bad of ['-1', '1e3', 'abc', '1.0000000000000000001'])
      expect(() => rateUnits(bad, '--usdc-rate')).toThrow(
        `--usdc-rate takes ATH per token, e.g. 2.5, got "${bad}"`,
      );
  });

  it('an SDL service names an image, which the CLI refuses by path until leases run images', () => {
    const plan = planSdl(
      'version: "2.0"\nservices:\n  web:\n    image: nginx\nprofiles:\n  compute:\n    p:\n      resources:\n        cpu:\n          units: 1\n        memory:\n          size: 1Gi\n        storage:\n          size: 1Gi\n  placement:\n    dc:\n      pricing:\n        p:\n          denom: uakt\n          amount: 1\ndeployment:\n  web:\n    dc:\n      profile: p\n      count: 1\n',
    );
    let err: unknown;
    try {
      leaseWorkloadFor(plan.services[0]!);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SdlError);
    expect((err as SdlError).issues).toEqual([
      {
        path: 'services.web.image',
        message: `deploy does not run OCI images yet ("nginx"): an image lease needs the SDL's port mapped to the lease's endpoint port, which leases do not do yet (aethir rent --image runs an image that listens on $AETHIR_PORT)`,
      },
    ]);
  });
});
