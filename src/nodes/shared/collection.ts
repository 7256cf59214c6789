/** Reads the optional custom template collection that SmartREST nodes define in their configuration. */
import { parseCollection, type TemplateCollection } from '../../smartrest/custom';

export interface CollectionConfig {
  xid?: string;
  templates?: string;
}

/** The collection, undefined when none is configured, or the configuration error as an Error. */
export function readCollection(config: CollectionConfig): TemplateCollection | Error | undefined {
  const xid = (config.xid ?? '').trim();
  const templates = config.templates ?? '';
  if (!xid && !templates.trim()) return undefined;
  if (!xid) return new Error('custom templates are defined but the X-ID is empty');
  try {
    return parseCollection(xid, templates);
  } catch (err) {
    return err as Error;
  }
}
