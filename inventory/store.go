package inventory

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// State is what the inventory keeps besides its items.
type State struct {
	// LearningStart is the packet time of the first session the inventory
	// saw when it was empty; zero until then.
	LearningStart time.Time
}

// Batch is one atomic write: deletions first, then puts, then the state.
type Batch struct {
	Delete []Key
	Put    []Item
	State  State
}

// Store keeps the inventory across restarts. The inventory holds every item
// in memory and decides what is new itself; the store only persists. Commit
// is called from one background goroutine at a time, never from Observe.
//
// The embedded implementation is OpenBolt. ESStore wraps it and records
// every item in an Elasticsearch index shared by several sensors (see
// DocumentID for what is left to do).
type Store interface {
	// Load calls fn for every stored item and returns the stored state.
	Load(fn func(Item) error) (State, error)
	// Commit writes b atomically: after a crash either all of it or none
	// of it is there.
	Commit(b Batch) error
	Close() error
}

// FileName is the embedded store's file in the state directory.
const FileName = "inventory.db"

var (
	bucketItems = []byte("items")
	bucketMeta  = []byte("meta")
	metaState   = []byte("state")
)

type boltStore struct{ db *bolt.DB }

// OpenBolt opens (creating) the embedded store dir/inventory.db. bbolt's
// copy-on-write B+tree and double, checksummed meta pages make every Commit
// atomic and durable (fsync at commit), so a kill -9 leaves the last
// committed batch. The file is locked: a second process gets an error after
// a second instead of sharing it.
func OpenBolt(dir string) (Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{
		Timeout: time.Second,
		// The freelist is rebuilt on open instead of written at every
		// commit: commits are cheaper, crash safety is the same.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("inventory: open %s: %w", filepath.Join(dir, FileName), err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketItems); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketMeta)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return &boltStore{db: db}, nil
}

func (b *boltStore) Load(fn func(Item) error) (State, error) {
	var st State
	err := b.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(metaState); len(v) >= 8 {
			if ns := int64(binary.BigEndian.Uint64(v)); ns != 0 {
				st.LearningStart = time.Unix(0, ns).UTC()
			}
		}
		return tx.Bucket(bucketItems).ForEach(func(k, v []byte) error {
			it, err := decodeItem(k, v)
			if err != nil {
				return fmt.Errorf("item %q: %w", k, err)
			}
			return fn(it)
		})
	})
	if err != nil {
		return st, fmt.Errorf("inventory: load: %w", err)
	}
	return st, nil
}

func (b *boltStore) Commit(batch Batch) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		items := tx.Bucket(bucketItems)
		var kb []byte
		for _, k := range batch.Delete {
			kb = encodeKey(kb[:0], k)
			if err := items.Delete(kb); err != nil {
				return err
			}
		}
		// In key order, which bbolt writes several times faster than
		// scattered keys. bbolt keeps the slices until the transaction
		// ends: one buffer for all of them.
		type kv struct{ k, v []byte }
		puts := make([]kv, len(batch.Put))
		buf := make([]byte, 0, 128*len(batch.Put))
		for i := range batch.Put {
			it := &batch.Put[i]
			n := len(buf)
			buf = encodeKey(buf, it.Key)
			m := len(buf)
			buf = encodeValue(buf, it)
			puts[i] = kv{buf[n:m:m], buf[m:len(buf):len(buf)]}
		}
		slices.SortFunc(puts, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
		for _, p := range puts {
			if err := items.Put(p.k, p.v); err != nil {
				return err
			}
		}
		var m [8]byte
		if !batch.State.LearningStart.IsZero() {
			binary.BigEndian.PutUint64(m[:], uint64(batch.State.LearningStart.UnixNano()))
		}
		return tx.Bucket(bucketMeta).Put(metaState, m[:])
	})
}

func (b *boltStore) Close() error { return b.db.Close() }

// Encoding. Key: kind byte, then length-prefixed value, SNI and server
// (AddrPort binary form). Value: version byte, first and last seen (Unix
// nanoseconds, varint), count, then for certificates a flag and the fields.

const valueVersion = 1

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeKey(b []byte, k Key) []byte {
	b = append(b, byte(k.Kind))
	b = appendString(b, k.Value)
	if k.Kind == ServerCertificate {
		b = appendString(b, k.SNI)
		ap, _ := k.Server.MarshalBinary()
		b = appendString(b, string(ap))
	}
	return b
}

func encodeValue(b []byte, it *Item) []byte {
	b = append(b, valueVersion)
	b = binary.AppendVarint(b, it.FirstSeen.UnixNano())
	b = binary.AppendVarint(b, it.LastSeen.UnixNano())
	b = binary.AppendUvarint(b, it.Count)
	c := it.Certificate
	if c == nil {
		return append(b, 0)
	}
	flag := byte(1)
	if c.SelfSigned {
		flag |= 2
	}
	b = append(b, flag)
	b = appendString(b, c.SHA256)
	b = appendString(b, c.Subject)
	b = appendString(b, c.Issuer)
	b = binary.AppendVarint(b, c.NotBefore.UnixNano())
	b = binary.AppendVarint(b, c.NotAfter.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(c.AlternativeNames)))
	for _, n := range c.AlternativeNames {
		b = appendString(b, n)
	}
	return b
}

var errShort = errors.New("truncated record")

type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errShort
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errShort
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) time() time.Time { return time.Unix(0, r.varint()).UTC() }

func decodeKey(b []byte) (Key, error) {
	r := reader{b: b}
	k := Key{Kind: Kind(r.byte())}
	k.Value = r.string()
	if k.Kind == ServerCertificate {
		k.SNI = r.string()
		if ap := r.string(); r.err == nil {
			if err := k.Server.UnmarshalBinary([]byte(ap)); err != nil {
				return k, err
			}
		}
	}
	if r.err == nil && (k.Kind == 0 || int(k.Kind) >= numKinds) {
		r.err = fmt.Errorf("unknown kind %d", k.Kind)
	}
	return k, r.err
}

func decodeItem(kb, vb []byte) (Item, error) {
	k, err := decodeKey(kb)
	if err != nil {
		return Item{}, err
	}
	it := Item{Key: k}
	r := reader{b: vb}
	if v := r.byte(); r.err == nil && v != valueVersion {
		return it, fmt.Errorf("value version %d", v)
	}
	it.FirstSeen = r.time()
	it.LastSeen = r.time()
	it.Count = r.uvarint()
	if flag := r.byte(); flag&1 != 0 {
		c := &CertInfo{SelfSigned: flag&2 != 0}
		c.SHA256 = r.string()
		c.Subject = r.string()
		c.Issuer = r.string()
		c.NotBefore = r.time()
		c.NotAfter = r.time()
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			r.err = errShort
		}
		for i := uint64(0); i < n && r.err == nil; i++ {
			c.AlternativeNames = append(c.AlternativeNames, r.string())
		}
		it.Certificate = c
	}
	return it, r.err
}

// DocumentID is the item's deterministic document id: the unpadded base64url
// SHA-256 of its kind and key fields (kind, value, server, SNI, joined by
// NUL). Sensors that index tlsentry.inventory documents with it share one
// inventory.
//
// ESStore does the first half of the multi-sensor design: a first-seen
// item is indexed with op_type=create and _id = DocumentID(key); 201 means
// new to the whole cluster, 409 means some sensor saw it first (counted).
// TODO(multi-sensor): last seen and count as bulk updates with a painless
// script (max last_seen, count += n) on the same _id, batched like Commit;
// the sensor's configuration to turn ESStore on. The local inventory stays the hot-path
// cache (Observe never waits on the network); "new" then needs the cluster's
// answer, so the new-item report becomes asynchronous (a callback or a
// channel of Observations) instead of Observe's return value.
func DocumentID(k Key) string {
	h := sha256.New()
	h.Write([]byte(k.Kind.String()))
	h.Write([]byte{0})
	h.Write([]byte(k.Value))
	h.Write([]byte{0})
	if k.Kind == ServerCertificate {
		h.Write([]byte(k.Server.String()))
	}
	h.Write([]byte{0})
	h.Write([]byte(k.SNI))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
