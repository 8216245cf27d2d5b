// A timer that fires again and again: Qpid Proton's recurring_timer.py. The handler schedules a
// task (`container.schedule(ms, handler)`); each onTimerTask prints "Tick..." and schedules the
// next. Proton's runs until Ctrl-C; this one stops after --ticks ticks (Ctrl-C stops it too), and
// run() resolves once no task is pending.
//
//   node samples/recurring_timer.mjs [--ticks 3] [--period 1000]
//
// --ticks 0 ticks until Ctrl-C. --period is in milliseconds.
import { parseArgs } from 'node:util';
import { Container } from '../dist/esm/index.js';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('recurring_timer.mjs');

const { values } = parseArgs({
  options: { ticks: { type: 'string', default: '3' }, period: { type: 'string', default: '1000' } },
});
const ticks = Number(values.ticks);
const period = Number(values.period);

class Recurring {
  constructor(period, ticks) {
    this.period = period;
    this.ticks = ticks;
    this.count = 0;
  }

  onStart(event) {
    this.container = event.container;
    this.container.schedule(this.period, this);
  }

  onTimerTask() {
    console.log('Tick...');
    this.count++;
    if (this.ticks === 0 || this.count < this.ticks) this.container.schedule(this.period, this);
  }
}

const container = new Container(new Recurring(period, ticks));
process.once('SIGINT', () => {
  container.stop();
  console.log();
});
await container.run();
process.removeAllListeners('SIGINT');
