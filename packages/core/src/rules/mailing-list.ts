/**
 * Mailing-list and bulk mail: the RFC 2369/2919 List-* fields, the older list-manager fields, and
 * Precedence: bulk/list/junk. The person behind list mail is not the list's envelope sender.
 */
import type { Rule } from '../decision.js';
import { firstHeader, headerKeyword, headerValues } from '../signals.js';
import { excerpt } from './excerpt.js';

const LIST_HEADERS = [
  'list-id',
  'list-post',
  'list-unsubscribe',
  'list-subscribe',
  'list-help',
  'list-owner',
  'list-archive',
  'mailing-list',
  'x-mailing-list',
  'x-ml-name',
  'x-list',
  'x-listserver',
  'x-list-administrivia',
  'x-mlserver',
];

export const mailingListRule: Rule = {
  id: 'mailing-list',
  description: 'Mailing-list mail (List-Id and the other List-* fields, Mailing-List, X-Mailing-List, X-ML-Name, X-List)',
  symbols: ['MAILING_LIST'],
  evaluate({ message }) {
    const found = LIST_HEADERS.find((h) => headerValues(message, h).length > 0);
    if (!found) return null;
    const value = firstHeader(message, found)!;
    return { symbol: 'MAILING_LIST', weight: 0, detail: `${found}: ${excerpt(value, 80)}`, action: 'quarantine' };
  },
};

export const bulkPrecedenceRule: Rule = {
  id: 'bulk-precedence',
  description: 'Precedence: bulk, list or junk',
  symbols: ['BULK_PRECEDENCE'],
  evaluate({ message }) {
    const value = headerKeyword(message, 'precedence');
    if (value !== 'bulk' && value !== 'list' && value !== 'junk') return null;
    return { symbol: 'BULK_PRECEDENCE', weight: 0, detail: `Precedence: ${value}`, action: 'quarantine' };
  },
};
