import type { Driver, DriverContext } from '../src/bus/driver.js';
import { CompactV2Driver } from './compact-v2/driver.js';
import { Frame485Driver } from './frame-485/driver.js';
import { JsonV1Driver } from './json-v1/driver.js';

export function createDriver(ctx: DriverContext): Driver {
  switch (ctx.unit.dialect) {
    case 'json-v1':
      return new JsonV1Driver(ctx);
    case 'compact-v2':
      return new CompactV2Driver(ctx);
    case 'frame-485':
      return new Frame485Driver(ctx);
  }
}
