/** Choosing the IOMMU driver: the scenario and machine-file `iommu:` mapping, `drivers:`, per-driver expectations, and inspect. */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/diagnostics.js';
import { readMachineFileIommu, parseMachineFile } from '../../../src/import/machine-file.js';
import { inspectMachine } from '../../../src/inspect/inspect.js';
import { resolveKernel } from '../../../src/kernel/config.js';
import { bindScenario, type BoundScenario } from '../../../src/scenario/bind.js';
import { checkCell } from '../../../src/scenario/check.js';
import { parseScenario } from '../../../src/scenario/parse.js';
import { runScenario } from '../../../src/scenario/run.js';
import { formatMermaid } from '../../../src/report/mermaid.js';

/** Two root ports: 00:02.0 -> an ATS NIC with Page Aligned Request, 00:03.0 -> an ATS device without it. */
const FUNCTIONS = `functions:
  - bdf: 0000:00:02.0
    portType: root-port
    secondaryBus: 0x01
    subordinateBus: 0x01
  - bdf: 0000:01:00.0
    vendorId: 0x1af4
    deviceId: 0x1041
    flr: true
    ats: { queueDepth: 32, pageAligned: true }
  - bdf: 0000:00:03.0
    portType: root-port
    secondaryBus: 0x02
    subordinateBus: 0x02
  - bdf: 0000:02:00.0
    vendorId: 0x1af4
    deviceId: 0x1042
    ats: { queueDepth: 8 }
`;
const MACHINE = 'machine:\n  ' + FUNCTIONS.replace(/\n/g, '\n  ').trimEnd() + '\n';

function bound(text: string): BoundScenario {
  const doc = parseScenario(text, 't.yaml');
  if (doc.machine.kind !== 'inline') throw new Error('inline machines only');
  return bindScenario(doc, doc.machine.machine);
}

function inputError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e.message;
    throw e;
  }
  throw new Error('no InputError');
}

describe('the iommu mapping of a scenario', () => {
  it('defaults to SMMUv3 and takes vtd with its mode and ATSR units', () => {
    expect(bound(`name: t\n${MACHINE}steps: []\n`).doc).toMatchObject({
      driver: 'smmuv3',
      drivers: ['smmuv3'],
    });
    const b = bound(
      `name: t\n${MACHINE}iommu: { driver: vtd, mode: legacy, atsr: [00:02.0] }\nsteps:\n  - boot\n`,
    );
    expect(b.doc).toMatchObject({ driver: 'vtd', vtd: { mode: 'legacy', atsr: ['0000:00:02.0'] } });
    const t = runScenario(b, { preset: 'v6.12' });
    expect(t.driver).toBe('vtd');
    expect(t.vtd).toEqual({ mode: 'legacy', atsr: ['0000:00:02.0'] });
    expect(t.iommu.pageShift).toBe(12);
    expect(formatMermaid(t)).toContain('participant SMMU as VT-d');
  });

  it("refuses another driver's setting, naming the key and line", () => {
    const msg = inputError(() =>
      bound(`name: t\n${MACHINE}iommu: { driver: amd, mode: legacy }\nsteps: []\n`),
    );
    expect(msg).toMatch(
      /t\.yaml:\d+:\d+: .*iommu\.mode: mode is a setting of the vtd driver, but iommu\.driver is amd/,
    );
    expect(
      inputError(() => bound(`name: t\n${MACHINE}iommu: { driver: vtd, atsr: [zz] }\nsteps: []\n`)),
    ).toMatch(/iommu\.atsr/);
    expect(
      inputError(() => bound(`name: t\n${MACHINE}iommu: { driver: amd, ats: false }\nsteps: []\n`)),
    ).toMatch(/for amd, ATS support is iotlb/);
  });

  it('drivers: must list the scenario’s own driver', () => {
    expect(inputError(() => bound(`name: t\n${MACHINE}drivers: [vtd]\nsteps: []\n`))).toMatch(
      /the scenario's own driver smmuv3 \(iommu\.driver\) must be one of the drivers it lists/,
    );
  });
});

describe('per-driver expectations', () => {
  const text = `name: t\n${MACHINE}iommu: { driver: vtd }\ndrivers: [vtd, amd]\nsteps:\n  - vfio-claim: 0000:01:00.0\nexpect:\n  default: holds\n  vtd:\n    v7.3: { violates: [ats-implies-eats, blocked-ats-off] }\n`;

  it('look up the driver first, then the plain entries', () => {
    const b = bound(text);
    expect(checkCell(b, 'v7.3', 'vtd')).toMatchObject({ status: 'violated', met: true });
    expect(checkCell(b, 'v6.12', 'vtd')).toMatchObject({ status: 'holds', met: true });
    expect(checkCell(b, 'v7.3', 'amd')).toMatchObject({ status: 'holds', met: true });
    // A driver the scenario does not list, and a preset that does not model the driver, are n/a.
    expect(checkCell(b, 'v7.3', 'smmuv3').status).toBe('n/a');
    expect(checkCell(b, 'v6.1', 'amd').status).toBe('n/a');
    expect(checkCell(b, 'v6.1', 'vtd').status).toBe('violated');
  });

  it('a preset that does not model the driver is bad input for a run', () => {
    const b = bound(`name: t\n${MACHINE}steps: []\n`);
    expect(inputError(() => runScenario(b, { preset: 'v6.1' }))).toMatch(
      /kernel preset v6\.1 does not model the smmuv3 driver/,
    );
  });
});

describe('machine files and inspect', () => {
  const file = `name: m\n${FUNCTIONS}iommu: { driver: vtd, atsr: [0000:00:02.0] }\n`;

  it('a machine file may carry the iommu mapping', () => {
    expect(parseMachineFile(file, 'm.yaml').functions.length).toBe(4);
    expect(readMachineFileIommu(file, 'm.yaml')).toMatchObject({
      driver: 'vtd',
      vtd: { atsr: ['0000:00:02.0'] },
    });
    expect(readMachineFileIommu(`name: m\n${FUNCTIONS}`, 'm.yaml')).toBeNull();
    expect(
      inputError(() => readMachineFileIommu(`${FUNCTIONS}iommu: { driver: vtd, iotlb: false }\n`, 'm.yaml')),
    ).toMatch(/m\.yaml:\d+:\d+: machine-file-invalid: iommu\.iotlb/);
  });

  it('inspect says which functions the chosen IOMMU driver gives ATS, and why not', () => {
    const machine = parseMachineFile(file, 'm.yaml');
    const kernel = resolveKernel('v7.3');
    const decision = (r: ReturnType<typeof inspectMachine>, bdf: string) =>
      r.functions.find((f) => f.bdf === bdf)!.ats!.decision;
    const smmu = inspectMachine(machine, { kernel });
    expect(smmu.iommu).toEqual({ driver: 'smmuv3' });
    expect(decision(smmu, '0000:02:00.0')).toBe('on-demand');
    const vtd = inspectMachine(machine, {
      kernel,
      iommu: { driver: 'vtd', vtd: { atsr: ['0000:00:02.0'] } },
    });
    expect(decision(vtd, '0000:01:00.0')).toBe('on-demand');
    expect(decision(vtd, '0000:02:00.0')).toBe('iommu-unsupported');
    expect(vtd.functions.find((f) => f.bdf === '0000:02:00.0')!.ats!.reasons.join(' ')).toMatch(/ATSR/);
    const all = inspectMachine(machine, { kernel, iommu: { driver: 'vtd', vtd: { atsr: 'all' } } });
    expect(all.functions.find((f) => f.bdf === '0000:02:00.0')!.ats!.reasons.join(' ')).toMatch(
      /Page Aligned/,
    );
    const amd = inspectMachine(machine, { kernel, iommu: { driver: 'amd', amd: { iotlb: false } } });
    expect(decision(amd, '0000:01:00.0')).toBe('iommu-unsupported');
    expect(decision(inspectMachine(machine, { kernel, iommu: { driver: 'amd' } }), '0000:02:00.0')).toBe(
      'on-demand',
    );
    // v6.1 has no pci_prepare_ats(): nothing is prepared, the enable dry run still runs.
    const old = inspectMachine(machine, { kernel: resolveKernel('v6.1'), iommu: { driver: 'vtd' } });
    expect(old.functions.find((f) => f.bdf === '0000:01:00.0')!.ats).toMatchObject({
      prepare: null,
      enable: '0',
    });
  });
});
