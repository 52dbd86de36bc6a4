import { describe, expect, it } from 'vitest';
import { addMonths, historyCutoff, monthOfSuffix, monthPastHistory, monthsToPrepare, monthStart, monthSuffix } from '../src/index.js';

describe('month partitions arithmetic', () => {
  it('takes the UTC month of an instant, whatever the local time zone says', () => {
    expect(monthStart(new Date('2026-03-31T23:30:00-02:00'))).toEqual(new Date('2026-04-01T00:00:00Z'));
  });

  it('steps over the end of a year in both directions', () => {
    expect(addMonths(new Date('2026-11-15T00:00:00Z'), 2)).toEqual(new Date('2027-01-01T00:00:00Z'));
    expect(addMonths(new Date('2026-01-15T00:00:00Z'), -1)).toEqual(new Date('2025-12-01T00:00:00Z'));
  });

  it('names a month YYYYMM and reads the name back', () => {
    expect(monthSuffix(new Date('2026-02-10T00:00:00Z'))).toBe('202602');
    expect(monthOfSuffix('202602')).toEqual(new Date('2026-02-01T00:00:00Z'));
  });

  it('reads no month from a name that is not one', () => {
    expect(monthOfSuffix('202613')).toBeUndefined();
    expect(monthOfSuffix('2026-1')).toBeUndefined();
  });

  it('prepares this month and the next ones', () => {
    expect(monthsToPrepare(new Date('2026-12-20T00:00:00Z'), 2).map(monthSuffix)).toEqual(['202612', '202701', '202702']);
  });

  it('lets a month go only once its last instant is older than the history retention', () => {
    const now = new Date('2026-07-01T00:00:00Z');
    // 30 days before now is 2026-06-01: May ended exactly then, June has not.
    expect(monthPastHistory(new Date('2026-05-01T00:00:00Z'), now, 30)).toBe(true);
    expect(monthPastHistory(new Date('2026-06-01T00:00:00Z'), now, 30)).toBe(false);
  });

  it('never lets a month go when history is kept forever', () => {
    expect(historyCutoff(new Date(), 0)).toBeUndefined();
    expect(monthPastHistory(new Date('1990-01-01T00:00:00Z'), new Date(), 0)).toBe(false);
  });
});
