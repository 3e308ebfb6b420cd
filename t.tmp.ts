import { TaskProcessing, CollaborationProcessManager } from './sagas/index.js';
import { pathsOf, unreachableTransitions, runPath } from './src/testing/paths.js';
import { sagaTransitions } from './src/core/saga/transitions.js';
for (const saga of [TaskProcessing, CollaborationProcessManager]) {
  const t0 = Date.now();
  const paths = pathsOf(saga);
  console.log(saga.name, Date.now() - t0, 'ms', paths.length, 'paths of', sagaTransitions(saga).length, 'transitions');
  for (const p of paths) console.log('  ', p.name, JSON.stringify(p.state));
  console.log('unreachable', unreachableTransitions(saga, paths));
  for (const p of paths) await runPath(saga, p);
  console.log('ran ok');
}
