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

  const sdl = (service: string) =>
    'version: "2.0"\nservices:\n  web:\n    image: nginx\nprofiles:\n  compute:\n    p:\n      resources:\n        cpu:\n          units: 1\n        memory:\n          size: 1Gi\n        storage:\n          size: 1Gi\n  placement:\n    dc:\n      pricing:\n        p:\n          denom: uakt\n          amount: 1\ndeployment:\n  web:\n    dc:\n      profile: p\n      count: 1\n'.replace(
      '    image: nginx\n',
      service,
    );

  it("an SDL service runs its image with command + args, its global port as the lease's own (public) port", () => {
    const plan = planSdl(
      sdl(
        '    image: jupyter/base-notebook\n    command: ["start-notebook.py"]\n    args: ["--port", "8888"]\n    expose:\n      - port: 8888\n        as: 80\n        to:\n          - global: true\n',
      ),
    );
    expect(leaseWorkloadFor(plan.services[0]!)).toEqual({
      image: 'jupyter/base-notebook',
      command: ['start-notebook.py', '--port', '8888'],
      port: 8888,
      publicEndpoint: true,
    });
    // args alone go to the image's entrypoint; no port: no endpoint of its own
    const argsOnly = planSdl(sdl('    image: redis:7\n    args: ["--save", ""]\n'));
    expect(leaseWorkloadFor(argsOnly.services[0]!)).toEqual({ image: 'redis:7', command: ['--save', ''] });
  });

  it('a port exposed only to another service is the lease port, not public (it opens with a lease token)', () => {
    const text = sdl(
      '    image: redis:7\n    args: ["--save", ""]\n    expose:\n      - port: 6379\n        to:\n          - service: app\n',
    )
      .replace('profiles:\n', '  app:\n    image: busybox\n    args: ["true"]\nprofiles:\n')
      .replace('deployment:\n', 'deployment:\n  app:\n    dc:\n      profile: p\n      count: 1\n');
    const plan = planSdl(text);
    expect(plan.services.map((s) => s.service)).toEqual(['web', 'app']);
    expect(leaseWorkloadFor(plan.services[0]!)).toEqual({
      image: 'redis:7',
      command: ['--save', ''],
      port: 6379,
    });
    expect(leaseWorkloadFor(plan.services[1]!)).toEqual({ image: 'busybox', command: ['true'] });
  });

  it('an SDL service with neither command nor args is refused by path', () => {
    const plan = planSdl(sdl('    image: nginx\n'));
    let err: unknown;
    try {
      leaseWorkloadFor(plan.services[0]!);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SdlError);
    expect((err as SdlError).issues).toEqual([
      {
        path: 'services.web.command',
        message:
          'a lease names what it runs: give the service a command or args (the image "nginx" is run with them)',
      },
    ]);
  });
});
