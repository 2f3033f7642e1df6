package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tlsentry/tlsentry/inventory"
	"github.com/tlsentry/tlsentry/output"
)

// DefaultStateDir is where the inventory lives when inventory.enabled is
// true and no state directory is given, unless systemd's STATE_DIRECTORY
// (StateDirectory=tlsentry: the same directory) names another.
const DefaultStateDir = "/var/lib/tlsentry"

// InventoryConfig configures the TLS inventory (first-seen client
// fingerprints and server certificates, kept in the state directory).
type InventoryConfig struct {
	// Enabled: default on when a state directory is given (--state-dir,
	// inventory.state_dir), off otherwise; true without a state
	// directory uses DefaultStateDir.
	Enabled *bool `yaml:"enabled"`
	// StateDir holds inventory.db (bbolt).
	StateDir string `yaml:"state_dir"`
	// LearningPeriod is a Go duration of packet time from the first
	// session an empty inventory sees during which nothing is reported
	// new (default 24h; "0s": none).
	LearningPeriod string `yaml:"learning_period"`
	// MaxItems bounds each kind of item (default 50000).
	MaxItems int `yaml:"max_items"`
	// RenewalWindow is a Go duration: a certificate replaced within it of
	// its not_after may be renewed (default 720h, 30 days).
	RenewalWindow string `yaml:"renewal_window"`
	// Shared also records every item in an Elasticsearch index shared by
	// the sensors of a cluster (inventory.ESStore), with the connection
	// of the elasticsearch block: 201 new to the cluster, 409 seen by
	// another sensor first. The API key needs create_doc on SharedIndex.
	Shared bool `yaml:"shared"`
	// SharedIndex is that index (default tlsentry-inventory).
	SharedIndex string `yaml:"shared_index"`
}

// options checks ic and returns the state directory and the inventory's
// options; dir "" means no inventory.
func (ic InventoryConfig) options() (dir string, opt inventory.Options, err error) {
	on := ic.StateDir != ""
	if ic.Enabled != nil {
		on = *ic.Enabled
	}
	if !on {
		return "", opt, nil
	}
	dir = ic.StateDir
	if dir == "" {
		dir = DefaultStateDir
		if v := os.Getenv("STATE_DIRECTORY"); v != "" {
			dir = strings.Split(v, ":")[0]
		}
	}
	if ic.LearningPeriod != "" {
		d, err := time.ParseDuration(ic.LearningPeriod)
		if err != nil || d < 0 {
			return "", opt, fmt.Errorf("%w: inventory.learning_period %q is not a duration (24h; 0s for none)", errUsage, ic.LearningPeriod)
		}
		opt.LearningPeriod = d
		if d == 0 {
			opt.LearningPeriod = -1
		}
	}
	if ic.MaxItems < 0 {
		return "", opt, fmt.Errorf("%w: inventory.max_items %d is negative", errUsage, ic.MaxItems)
	}
	opt.MaxItems = ic.MaxItems
	if ic.RenewalWindow != "" {
		d, err := time.ParseDuration(ic.RenewalWindow)
		if err != nil || d <= 0 {
			return "", opt, fmt.Errorf("%w: inventory.renewal_window %q is not a positive duration", errUsage, ic.RenewalWindow)
		}
		opt.RenewalWindow = d
	}
	return dir, opt, nil
}

// openInventory opens the configured inventory; nil when it is off. esFlag
// is --es, for a shared inventory.
func openInventory(cfg *Config, esFlag string) (*inventory.Inventory, error) {
	ic := cfg.Inventory
	dir, opt, err := ic.options()
	if err != nil || dir == "" {
		return nil, err
	}
	if !ic.Shared {
		return inventory.Open(dir, opt)
	}
	eo, err := esOptions(cfg, esFlag, false)
	if err != nil {
		return nil, err
	}
	if len(eo.URLs) == 0 {
		return nil, fmt.Errorf("%w: inventory.shared needs an Elasticsearch URL (elasticsearch.urls, --es)", errUsage)
	}
	tr, err := output.NewESTransport(eo)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	switch {
	case eo.APIKey != "":
		h.Set("Authorization", "ApiKey "+eo.APIKey)
	case eo.Username != "":
		r := &http.Request{Header: h}
		r.SetBasicAuth(eo.Username, eo.Password)
	}
	local, err := inventory.OpenBolt(dir)
	if err != nil {
		return nil, err
	}
	opt.Store = inventory.NewESStore(local, inventory.ESOptions{URL: eo.URLs[0], Index: ic.SharedIndex,
		Client: &http.Client{Transport: tr}, Header: h, Sensor: cfg.Observer.Name})
	inv, err := inventory.Open(dir, opt)
	if err != nil {
		local.Close()
		return nil, err
	}
	return inv, nil
}

// closeInventory commits and closes inv and prints its summary line.
func closeInventory(inv *inventory.Inventory, stderr io.Writer) error {
	if inv == nil {
		return nil
	}
	err := inv.Close()
	st := inv.Stats()
	var items, added, learned, evicted uint64
	for k := range st.Items {
		items += uint64(st.Items[k])
		added += st.New[k]
		learned += st.Learned[k]
		evicted += st.Evicted[k]
	}
	learning := ""
	if st.Learning && !st.LearningEnds.IsZero() {
		learning = ", learning until " + st.LearningEnds.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(stderr, "tlsentry: inventory: %d items, %d new, %d learned, %d evicted%s\n", items, added, learned, evicted, learning)
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	return nil
}
