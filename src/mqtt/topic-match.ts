/** MQTT topic filter matching (`+`, `#`, and `$share/<group>/` prefixes), without allocation per level. */

/** The filter a broker matches for a subscription: shared-subscription prefixes removed. */
export function effectiveFilter(filter: string): string {
  if (filter.startsWith('$share/')) {
    const slash = filter.indexOf('/', 7);
    return slash < 0 ? '' : filter.slice(slash + 1);
  }
  return filter;
}

/** True when `topic` matches `filter` (already without `$share/...`). Topics starting with `$` do not match wildcards at the first level. */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  if (topic.charCodeAt(0) === 36 /* $ */ && (filter[0] === '+' || filter[0] === '#')) return false;
  let f = 0;
  let t = 0;
  const fl = filter.length;
  const tl = topic.length;
  while (f < fl) {
    const fc = filter.charCodeAt(f);
    if (fc === 35 /* # */) return true;
    if (fc === 43 /* + */) {
      // Skip one topic level.
      while (t < tl && topic.charCodeAt(t) !== 47) t++;
      f++;
    } else {
      // Compare this level literally.
      while (f < fl && filter.charCodeAt(f) !== 47) {
        if (t >= tl || filter.charCodeAt(f) !== topic.charCodeAt(t)) return false;
        f++;
        t++;
      }
      if (t < tl && topic.charCodeAt(t) !== 47) return false;
    }
    if (f >= fl) return t >= tl;
    // At a '/' in the filter.
    if (t >= tl) return filter.slice(f + 1) === '#'; // 'a/#' matches 'a'
    f++;
    t++;
  }
  return t >= tl;
}

/** Checks a subscription filter; returns a reason when it is invalid. */
export function checkFilter(filter: string): string | undefined {
  const f = effectiveFilter(filter);
  if (!f) return `topic filter ${JSON.stringify(filter)} is empty`;
  const levels = f.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return `"#" must be the last level of ${JSON.stringify(filter)}`;
    if (l.includes('+') && l !== '+') return `"+" must fill a whole level of ${JSON.stringify(filter)}`;
  }
  return undefined;
}

/** Checks a publish topic; returns a reason when it is invalid. */
export function checkTopic(topic: string): string | undefined {
  if (!topic) return 'the topic is empty';
  if (/[+#\u0000]/.test(topic)) return `topic ${JSON.stringify(topic)} may not contain "+", "#" or NUL`;
  return undefined;
}
