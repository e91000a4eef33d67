/**
 * `explore(model, options)`: one search, single-threaded, in any JavaScript runtime. The worker
 * version (`exploreWithWorkers`) lives in src/node/explore-workers.ts.
 */
import { bfs } from './bfs.js';
import { dfs } from './dfs.js';
import type { Model } from './model.js';
import type { ExploreOptions } from './options.js';
import { randomWalks } from './random-walk.js';
import type { ExploreResult } from './result.js';

export function explore<S>(model: Model<S>, options: ExploreOptions = {}): ExploreResult<S> {
  const strategy = options.strategy ?? 'bfs';
  switch (strategy) {
    case 'bfs':
      return bfs(model, options);
    case 'dfs':
      return dfs(model, options);
    case 'random':
      return randomWalks(model, options);
  }
}
