/**
 * "Did you mean …?" for misspelled names: settings, task options, enqueue options. Pure, so
 * every layer can use it.
 */

/**
 * The candidate closest to `name`: the same letters ignoring case and separators, one whose
 * `aliases` include `name` exactly, or one a small edit away. Undefined when none is close.
 */
export function closestName(
  name: string,
  candidates: readonly string[],
  aliases?: (candidate: string) => readonly string[],
): string | undefined {
  const normalized = normalizeName(name);
  for (const candidate of candidates) {
    if (normalizeName(candidate) === normalized) return candidate;
    if (aliases?.(candidate).includes(name)) return candidate;
  }
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(normalized, normalizeName(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** `; did you mean "x"?` for the closest candidate, or "" when none is close. */
export function didYouMean(
  name: string,
  candidates: readonly string[],
  aliases?: (candidate: string) => readonly string[],
): string {
  const suggestion = closestName(name, candidates, aliases);
  return suggestion ? `; did you mean "${suggestion}"?` : "";
}

function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, "");
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}
