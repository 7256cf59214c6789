/**
 * The endpoint's small inventory: devices and children by external id (`c8y_Serial`), managed-object ids,
 * supported operations, and the SmartREST 2.0 template collections registered on `s/ut/<X-ID>` (tenant-wide, as
 * on the platform). Persisted (debounced, atomically) in a JSON file when one is given.
 */
import { parseCollection, type TemplateCollection } from '../smartrest/custom';
import { readJsonFile, writeJsonFileSync } from './jsonfile';

export interface ManagedObject {
  /** Managed-object id (numeric text, as on the platform). */
  id: string;
  externalId: string;
  name: string;
  type: string;
  /** External id of the parent for children. */
  parent?: string;
  children: string[];
  supportedOperations: string[];
  isDevice: boolean;
  created: string;
  /** `117`: the interval (minutes) within which the device must send a message; 0 or less: not monitored. */
  c8y_RequiredAvailability?: { responseInterval: number };
  /** Kept by the endpoint on each change (availability.ts). */
  c8y_Availability?: { status: 'AVAILABLE' | 'UNAVAILABLE'; lastMessage: string };
  c8y_Connection?: { status: 'CONNECTED' | 'DISCONNECTED' };
}

/** Fragments the endpoint maintains on a managed object. */
export type AvailabilityFragments = Pick<ManagedObject, 'c8y_RequiredAvailability' | 'c8y_Availability' | 'c8y_Connection'>;

interface InventoryFile {
  version: 1;
  nextId: number;
  objects: ManagedObject[];
  collections: { xid: string; id: string; text: string }[];
}

/** Bounds, so a device cannot grow the inventory (and its file) without end: refused with `41` on `s/e`. */
export const INVENTORY_LIMITS = { objects: 100_000, childrenPerDevice: 1000, collections: 1000 };

/** Thrown when an inventory bound is reached; the endpoint answers it as a refused request (`41`). */
export class InventoryLimitError extends Error {
  override readonly name = 'InventoryLimitError';
}

export class Inventory {
  private readonly objects = new Map<string, ManagedObject>();
  private readonly collections = new Map<string, { id: string; text: string; parsed: TemplateCollection }>();
  private nextId = 10001;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly file?: string) {
    const data = file ? readJsonFile<InventoryFile>(file) : undefined;
    if (data) {
      this.nextId = Number(data.nextId) || this.nextId;
      for (const o of data.objects ?? []) this.objects.set(o.externalId, o);
      for (const c of data.collections ?? []) {
        try {
          this.collections.set(c.xid, { id: c.id, text: c.text, parsed: parseCollection(c.xid, c.text) });
        } catch {
          // A collection that no longer parses is dropped; the device may register it again.
        }
      }
    }
  }

  get size(): number {
    return this.objects.size;
  }

  get(externalId: string): ManagedObject | undefined {
    return this.objects.get(externalId);
  }

  /** `100`: create the device if missing (idempotent). */
  ensureDevice(externalId: string, name?: string, type?: string): { mo: ManagedObject; created: boolean } {
    const mo = this.objects.get(externalId);
    if (mo) return { mo, created: false };
    return { mo: this.create(externalId, name || `MQTT Device ${externalId}`, type || 'c8y_MQTTDevice', true), created: true };
  }

  /** `101`: create a child of `parent` if missing (idempotent); the parent is created too when unknown. */
  ensureChild(parent: string, childId: string, name?: string, type?: string, isDevice = true): { mo: ManagedObject; created: boolean } {
    const p = this.ensureDevice(parent).mo;
    let mo = this.objects.get(childId);
    const created = !mo;
    if (!p.children.includes(childId) && p.children.length >= INVENTORY_LIMITS.childrenPerDevice) {
      throw new InventoryLimitError(`device ${parent} has ${p.children.length} child devices, the limit of this endpoint`);
    }
    if (!mo) mo = this.create(childId, name || `MQTT Device ${childId}`, type || 'c8y_MQTTChildDevice', isDevice, parent);
    if (!p.children.includes(childId)) {
      p.children.push(childId);
      this.changed();
    }
    return { mo, created };
  }

  children(externalId: string): string[] {
    return this.objects.get(externalId)?.children.slice() ?? [];
  }

  setSupportedOperations(externalId: string, operations: string[]): void {
    const mo = this.ensureDevice(externalId).mo;
    mo.supportedOperations = operations.filter((o) => o !== '');
    this.changed();
  }

  /** Set availability fragments of an existing object (false when it does not exist). */
  setFragments(externalId: string, fragments: AvailabilityFragments): boolean {
    const mo = this.objects.get(externalId);
    if (!mo) return false;
    Object.assign(mo, fragments);
    this.changed();
    return true;
  }

  list(): ManagedObject[] {
    return [...this.objects.values()];
  }

  collection(xid: string): { id: string; parsed: TemplateCollection } | undefined {
    return this.collections.get(xid);
  }

  /** Register a template collection; throws when it does not parse. Returns undefined when it already existed. */
  addCollection(xid: string, text: string): { id: string; parsed: TemplateCollection } | undefined {
    if (this.collections.has(xid)) return undefined;
    if (this.collections.size >= INVENTORY_LIMITS.collections) throw new InventoryLimitError(`this endpoint holds ${this.collections.size} template collections, its limit`);
    const parsed = parseCollection(xid, text);
    const entry = { id: String(this.nextId++), text, parsed };
    this.collections.set(xid, entry);
    this.changed();
    return entry;
  }

  private create(externalId: string, name: string, type: string, isDevice: boolean, parent?: string): ManagedObject {
    if (this.objects.size >= INVENTORY_LIMITS.objects) throw new InventoryLimitError(`the inventory holds ${this.objects.size} devices, the limit of this endpoint`);
    const mo: ManagedObject = {
      id: String(this.nextId++),
      externalId,
      name,
      type,
      ...(parent !== undefined ? { parent } : {}),
      children: [],
      supportedOperations: [],
      isDevice,
      created: new Date().toISOString(),
    };
    this.objects.set(externalId, mo);
    this.changed();
    return mo;
  }

  private changed(): void {
    if (!this.file || this.timer) return;
    // Debounced: a burst of new devices (1,000 connecting at once) costs one write per second, not one each.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, 1000);
    this.timer.unref();
  }

  /** Write pending changes now (called on close). */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.file) return;
    const data: InventoryFile = {
      version: 1,
      nextId: this.nextId,
      objects: this.list(),
      collections: [...this.collections].map(([xid, c]) => ({ xid, id: c.id, text: c.text })),
    };
    writeJsonFileSync(this.file, data, false);
  }
}
