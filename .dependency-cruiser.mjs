// No import cycles between the top-level folders of src/ (`npm run lint` runs `depcruise src`).
//
// The folders are listed lowest first; a folder may import (values) only folders listed before it.
// Such an order exists exactly when the imports between folders have no cycle, so an import that
// closes a cycle fails, naming the file and what it imports. To let a folder import one listed
// after it, move it down the list: that is possible only if no cycle results. Type-only imports
// are erased at compile time and are not checked. A folder not listed here fails too: list it.
const LAYERS = [
  'core', // ids, keys, encoding, amounts, errors, Clock, Rng
  'ledger', // the state machine
  'store', // chain stores
  'bus', // Bus port and adapters; the roles' subjects and messages
  'capacity', // the capacity-check protocol: challenge, messages, provers (checker and host)
  'indexer',
  'sdk',
  'checker',
  'container',
  'gaming', // game sessions: the host's arena and the signalling
  'api',
  'node', // composes the roles
  'cli',
];

const listed = `^src/(${LAYERS.join('|')})/`;

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    ...LAYERS.slice(0, -1).map((name, i) => ({
      name: `no-folder-cycle-from-${name}`,
      severity: 'error',
      comment: `src/${name} may import only ${LAYERS.slice(0, i).join(', ') || 'nothing in src'} (.dependency-cruiser.mjs)`,
      from: { path: `^src/${name}/` },
      to: { path: `^src/(${LAYERS.slice(i + 1).join('|')})/`, dependencyTypesNot: ['type-only'] },
    })),
    {
      name: 'src-folder-not-layered',
      severity: 'error',
      comment: 'every top-level folder of src/ is listed in LAYERS in .dependency-cruiser.mjs',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: listed, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'src-folder-not-layered',
      severity: 'error',
      comment: 'every top-level folder of src/ is listed in LAYERS in .dependency-cruiser.mjs',
      from: { path: '^src/', pathNot: listed },
      to: { path: '^src/', dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
