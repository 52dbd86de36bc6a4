/**
 * The SPF, DKIM, DMARC and ARC results as reasons, so an operator sees them with every decision. A
 * hard SPF fail or a DMARC fail means the sender's domain disowns the message: it is not challenged,
 * because the challenge would go to somebody who did not write. DNS trouble (temperror) is reported
 * but never counts as a failure.
 */
import type { Rule, RuleResult } from '../decision.js';

export const authenticationRule: Rule = {
  id: 'authentication',
  description: 'SPF, DKIM, DMARC and ARC results; SPF fail and DMARC fail forbid a challenge',
  symbols: ['SPF_*', 'DKIM_*', 'DMARC_*', 'ARC_*'],
  evaluate({ message }) {
    const auth = message.auth;
    if (!auth) return null;
    const out: RuleResult[] = [];
    const spf = auth.spf.result;
    if (spf === 'fail') {
      out.push({ symbol: 'SPF_FAIL', weight: 3, detail: `SPF fail for ${auth.spf.domain ?? 'the sender'}`, action: 'quarantine' });
    } else if (spf !== 'unknown') {
      const weights: Record<string, number> = { pass: -1, softfail: 1, neutral: 0, none: 0.5, temperror: 0, permerror: 0.5, policy: 0 };
      out.push({ symbol: `SPF_${spf.toUpperCase()}`, weight: weights[spf] ?? 0, detail: `SPF ${spf}${auth.spf.domain ? ` for ${auth.spf.domain}` : ''}` });
    }
    const passing = auth.dkim.filter((s) => s.result === 'pass').map((s) => s.domain);
    if (passing.length) out.push({ symbol: 'DKIM_PASS', weight: -1, detail: `valid DKIM signature of ${passing.join(', ')}` });
    else if (auth.dkim.length) {
      const first = auth.dkim[0]!;
      out.push({ symbol: `DKIM_${first.result.toUpperCase()}`, weight: first.result === 'fail' ? 1 : 0, detail: `DKIM ${first.result} for ${first.domain}` });
    }
    const dmarc = auth.dmarc.result;
    if (dmarc === 'fail') {
      out.push({
        symbol: 'DMARC_FAIL',
        weight: auth.dmarc.policy === 'reject' ? 5 : 3,
        detail: auth.dmarc.malformedFrom
          ? `DMARC fail: ${auth.dmarc.malformedFrom}`
          : `DMARC fail for ${auth.dmarc.domain ?? 'the From: domain'} (policy ${auth.dmarc.policy ?? 'none'})`,
        action: 'quarantine',
      });
    } else if (dmarc !== 'unknown' && dmarc !== 'none') {
      out.push({ symbol: `DMARC_${dmarc.toUpperCase()}`, weight: dmarc === 'pass' ? -2 : 0, detail: `DMARC ${dmarc}${auth.dmarc.domain ? ` for ${auth.dmarc.domain}` : ''}` });
    }
    if (auth.arc.result !== 'none' && auth.arc.result !== 'unknown') {
      out.push({ symbol: `ARC_${auth.arc.result.toUpperCase()}`, weight: 0, detail: `ARC ${auth.arc.result}` });
    }
    return out;
  },
};
