/**
 * Micro benchmark of the control plane's reload CPU for the bench/xds mesh (no sockets): a full
 * `loadMeshConfig` with a warm document cache versus `MeshConfigLoader` on the same one-weight edit.
 * Usage: node --import tsx bench/xds/load-micro.ts [--services 1000] [--rounds 30]
 */
import { DescriptorSources } from '../../src/control-plane/sources/descriptor-sources';
import { MeshDocumentCache } from '../../src/control-plane/mesh/document-cache';
import { loadMeshConfig } from '../../src/control-plane/mesh/load-mesh-config';
import { MeshConfigLoader } from '../../src/control-plane/mesh/mesh-config-loader';
import { generateMesh } from './mesh-gen';
import { arg } from '../argv';

const services = Number(arg('--services', '1000'));
const rounds = Number(arg('--rounds', '30'));
const texts: string[] = [];
for (let r = 0; r <= rounds; r++) texts.push(generateMesh(services, 0, 10 + ((r * 7) % 80)));
const file = '/tmp/mesh.yaml';

function time(label: string, load: (files: Map<string, string>) => boolean): void {
  load(new Map([[file, texts[0]!]]));
  const ms: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    const files = new Map([[file, texts[r]!]]);
    const t0 = performance.now();
    if (!load(files)) throw new Error('rejected');
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  process.stdout.write(`${label}: median ${ms[ms.length >> 1]!.toFixed(2)} ms, max ${ms[ms.length - 1]!.toFixed(2)} ms\n`);
}

const cache = new MeshDocumentCache();
const descriptors = new DescriptorSources();
time('loadMeshConfig (warm cache)', (f) => loadMeshConfig(f, cache, descriptors).ok);
const loader = new MeshConfigLoader(new DescriptorSources());
time('MeshConfigLoader', (f) => loader.load(f).ok);
process.stdout.write(`loader stats ${JSON.stringify(loader.stats)}\n`);
