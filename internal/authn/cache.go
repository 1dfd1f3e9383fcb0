package authn

import (
	"sync"
	"time"

	"github.com/google/uuid"

	"gantry/internal/store"
)

// entry is what the cache knows about one key. Entries are immutable once
// published; updates replace the pointer.
type entry struct {
	hashedSecret []byte
	userID       uuid.UUID
	username     string
	roles        []string
	status       store.UserStatus
	deleted      bool
	loginType    store.LoginType
	expiresAt    time.Time
	lastUsed     time.Time
	lastSeen     time.Time
	lifetime     time.Duration
	ip           string
	loadedAt     time.Time // wall/monotonic time of the database read
	// user is the key's user as read with it (HashedPassword dropped), for
	// Identity.User; it is replaced, never modified, like the entry.
	user *store.User
}

// cache is a bounded map of key id to entry with a TTL per entry. A
// generation counter, bumped on every invalidation, stops a load that raced
// with an invalidation from publishing its (possibly stale) result.
type cache struct {
	ttl time.Duration
	max int

	mu      sync.RWMutex
	entries map[string]*entry
	gen     uint64
}

func newCache(maxEntries int, ttl time.Duration) *cache {
	return &cache{ttl: ttl, max: maxEntries, entries: make(map[string]*entry)}
}

func (c *cache) get(id string) (*entry, bool) {
	if c.ttl < 0 {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if !ok || time.Since(e.loadedAt) >= c.ttl {
		return nil, false
	}
	return e, true
}

func (c *cache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put publishes a freshly loaded entry unless an invalidation happened since
// gen was read.
func (c *cache) put(id string, e *entry, gen uint64) {
	if c.ttl < 0 {
		return
	}
	e.loadedAt = time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, exists := c.entries[id]; !exists && len(c.entries) >= c.max {
		c.evictLocked()
	}
	c.entries[id] = e
}

// replace swaps old for updated if old is still the published entry.
func (c *cache) replace(id string, old, updated *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[id] == old {
		c.entries[id] = updated
	}
}

// evictLocked frees about an eighth of the cache: expired entries first,
// then arbitrary ones (Go's map order is randomized, which makes this a
// cheap random eviction).
func (c *cache) evictLocked() {
	target := len(c.entries) - c.max + 1 + c.max/8
	for id, e := range c.entries {
		if target <= 0 {
			return
		}
		if time.Since(e.loadedAt) >= c.ttl {
			delete(c.entries, id)
			target--
		}
	}
	for id := range c.entries {
		if target <= 0 {
			return
		}
		delete(c.entries, id)
		target--
	}
}

func (c *cache) deleteKey(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, id)
}

func (c *cache) deleteUser(userID uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for id, e := range c.entries {
		if e.userID == userID {
			delete(c.entries, id)
		}
	}
}

func (c *cache) size() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
