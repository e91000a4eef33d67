/**
 * A run as a Mermaid sequence diagram: participants Driver/VFIO, IOMMU core, SMMU, PCI core and
 * Device. Each step opens with a note and a request from the driver side; its events become
 * messages between the layers that exchange them; violations become notes.
 */
import { errnoName } from '../kernel/errno.js';
import { formatKernelEvent, type KernelEvent } from '../kernel/events.js';
import type { Trace, TraceStep } from '../scenario/run.js';

export const PARTICIPANTS = [
  ['Drv', 'Driver/VFIO'],
  ['Core', 'IOMMU core'],
  ['SMMU', 'SMMU'],
  ['PCI', 'PCI core'],
  ['Dev', 'Device'],
] as const;

export type Participant = (typeof PARTICIPANTS)[number][0];

/** Mermaid message text: one line, without `;` (a statement break), `#` (entity codes), arrows or angle brackets. */
export function mermaidText(s: string): string {
  return s
    .replace(/[\r\n]+/g, ' ')
    .replace(/;/g, ',')
    .replace(/#/g, 'no. ')
    .replace(/->/g, '→')
    .replace(/[<>]/g, (c) => (c === '<' ? '‹' : '›'))
    .trim();
}

interface Arrow {
  readonly from: Participant;
  readonly to: Participant;
  readonly reply: boolean;
}

/** Which layer initiates a step's operation. */
function stepSource(s: TraceStep): Participant {
  switch (s.op.op) {
    case 'device-dma':
    case 'atc-fill':
    case 'device-fault':
    case 'hot-unplug':
      return 'Dev';
    case 'flr':
    case 'cxl-reset':
    case 'sriov-enable':
    case 'sriov-disable':
      return 'PCI';
    case 'boot':
    case 'probe':
    case 'bind':
    case 'unbind':
    case 'vfio-claim':
    case 'vfio-release':
    case 'attach':
    case 'detach':
    case 'set-group-type':
    case 'pasid-attach':
    case 'pasid-detach':
    case 'dma-map':
    case 'dma-unmap':
    case 'fq-flush':
    case 'arm-fault':
      return 'Drv';
  }
}

function returnArrow(fn: string): Arrow {
  if (fn.startsWith('pci_')) return { from: 'PCI', to: fn.includes('reset') ? 'Core' : 'SMMU', reply: true };
  if (fn.startsWith('arm_smmu')) return { from: 'SMMU', to: 'Core', reply: true };
  return { from: 'Core', to: 'Drv', reply: true };
}

function eventArrow(ev: KernelEvent): Arrow | null {
  switch (ev.kind) {
    case 'config-write':
      return { from: 'PCI', to: 'Dev', reply: false };
    case 'warn':
    case 'info':
      return null;
    case 'return':
      return returnArrow(ev.fn);
    case 'iommu':
      return { from: 'Core', to: ev.fn.startsWith('pci_') ? 'PCI' : 'SMMU', reply: false };
    case 'ste-write':
    case 'cd-write':
      return { from: 'SMMU', to: 'SMMU', reply: false };
    case 'dev-entry':
      return { from: 'SMMU', to: 'SMMU', reply: false };
    case 'iommu-cmd':
      return ev.bdf !== undefined && /DEV_E?IOTLB|INV_IOTLB/.test(ev.cmd)
        ? { from: 'SMMU', to: 'Dev', reply: false }
        : { from: 'SMMU', to: 'SMMU', reply: false };
    case 'smmu-cmd':
      return ev.cmd === 'CMD_ATC_INV'
        ? { from: 'SMMU', to: 'Dev', reply: false }
        : { from: 'SMMU', to: 'SMMU', reply: false };
    case 'atc':
      return ev.action === 'fill'
        ? { from: 'SMMU', to: 'Dev', reply: true }
        : { from: 'Dev', to: 'Dev', reply: false };
    case 'dma':
      return { from: 'Dev', to: 'SMMU', reply: false };
  }
}

function noteOver(ev: KernelEvent): Participant {
  if (ev.kind === 'warn')
    return ev.site.startsWith('pci_') ? 'PCI' : ev.site.startsWith('arm_smmu') ? 'SMMU' : 'Core';
  return 'Core';
}

export function formatMermaid(trace: Trace): string {
  const out: string[] = ['sequenceDiagram'];
  // The IOMMU lane is named after the run's driver.
  const iommuLabel = trace.driver === 'vtd' ? 'VT-d' : trace.driver === 'amd' ? 'AMD-Vi' : 'SMMU';
  for (const [id, label] of PARTICIPANTS)
    out.push(`  participant ${id} as ${id === 'SMMU' ? iommuLabel : label}`);
  const sc = trace.scenario;
  out.push(`  Note over Drv,Dev: ${mermaidText(`${sc.name} under ${trace.kernel.preset}`)}`);
  for (const s of trace.steps) {
    const src = stepSource(s);
    out.push(`  Note over Drv,Dev: ${mermaidText(`step ${s.n}: ${s.text}`)}`);
    if (src === 'Drv') out.push(`  Drv->>Core: ${mermaidText(s.text)}`);
    else if (src === 'PCI') out.push(`  Drv->>PCI: ${mermaidText(s.text)}`);
    else out.push(`  Dev->>Dev: ${mermaidText(s.text)}`);
    for (const ev of s.events) {
      const a = eventArrow(ev);
      const text = mermaidText(formatKernelEvent(ev));
      if (a === null) {
        const over = noteOver(ev);
        out.push(`  Note over ${over}: ${ev.kind === 'warn' ? 'WARN ' : ''}${text}`);
      } else out.push(`  ${a.from}${a.reply ? '-->>' : '->>'}${a.to}: ${text}`);
    }
    if (s.ret !== null && !s.waiting) {
      const back = src === 'Dev' ? 'Dev-->>Dev' : src === 'PCI' ? 'PCI-->>Drv' : 'Core-->>Drv';
      out.push(
        `  ${back}: ${mermaidText(`= ${errnoName(s.ret)}${s.expect !== null && !s.expect.met ? ` (expected ${s.expect.name})` : ''}`)}`,
      );
    }
    for (const v of s.violations.filter((x) => x.new))
      out.push(
        `  Note over Drv,Dev: ${mermaidText(`VIOLATION ${v.id}${v.bdf === undefined ? '' : ` ${v.bdf}`}: ${v.detail}`)}`,
      );
  }
  const v = trace.verdict;
  out.push(
    `  Note over Drv,Dev: ${mermaidText(v.holds ? 'verdict: holds' : `verdict: violated ${v.violated.join(', ')}`)}`,
  );
  return out.join('\n') + '\n';
}
