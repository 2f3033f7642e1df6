package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration. The YAML file, flags and environment
// variables fill the same struct: file first, then environment, then flags.
// Secrets (passwords, API keys) come only from the file or the environment.
type Config struct {
	Observer ObserverConfig `yaml:"observer"`
	Capture  CaptureConfig  `yaml:"capture"`
	Output   OutputConfig   `yaml:"output"`
	Rules    RulesConfig    `yaml:"rules"`
	ES       ESConfig       `yaml:"elasticsearch"`
	Metrics  MetricsConfig  `yaml:"metrics"`
	// Inventory is the TLS inventory (inventory.go).
	Inventory InventoryConfig `yaml:"inventory"`

	path string // the file it was read from ("" for none), for reloads
	// ruleFlags applies the rule flags of the command line; kept so that a
	// reload (SIGHUP) re-reads the file and environment and then applies
	// them again.
	ruleFlags func(*RulesConfig)
}

// ObserverConfig names this sensor in documents.
type ObserverConfig struct {
	Name string `yaml:"name"`
}

// CaptureConfig configures packet sources, flows and workers.
type CaptureConfig struct {
	Interface   string `yaml:"interface"`    // live capture (-i)
	Source      string `yaml:"source"`       // live source: auto (AF_PACKET, libpcap if that fails), afpacket, pcap
	Filter      string `yaml:"filter"`       // BPF, tcpdump syntax
	Workers     int    `yaml:"workers"`      // 0: number of cores
	Snaplen     int    `yaml:"snaplen"`      // live capture
	RingSizeMB  int    `yaml:"ring_size_mb"` // live capture, per worker socket
	Promiscuous *bool  `yaml:"promiscuous"`
	MaxFlows    int    `yaml:"max_flows"` // per worker; 0: default
	User        string `yaml:"user"`      // drop privileges to this user after opening sockets
	// Checksums is TCP/UDP checksum validation: auto (default), on, off.
	Checksums string `yaml:"checksums"`
	// MemoryLimitMB is the budget for flow, reassembly, defragmentation
	// and parser state in MiB (0: 96; -1: none).
	MemoryLimitMB int `yaml:"memory_limit_mb"`
}

// OutputConfig configures the NDJSON sink.
type OutputConfig struct {
	File string `yaml:"file"` // "" or "-": stdout
	// FlushTimeout bounds the final flush after SIGINT/SIGTERM (a Go
	// duration; default 10s); --flush-timeout wins.
	FlushTimeout string `yaml:"flush_timeout"`
	// Detail is lean (the default: no field that repeats what others carry)
	// or full (output/FIELDS.md marks the full-only fields); --detail wins.
	Detail string `yaml:"detail"`
}

// RulesConfig configures detection.
type RulesConfig struct {
	Files             []string    `yaml:"files"`
	DisableIDs        []string    `yaml:"disable_ids"`
	DisableCategories []string    `yaml:"disable_categories"`
	CABundle          string      `yaml:"ca_bundle"`
	Intel             []IntelList `yaml:"intel"`
	// IntelMaxMB bounds each intel list file, in MiB (0: 256).
	IntelMaxMB int `yaml:"intel_max_mb"`
	// MaxRuleCost bounds the CEL cost of each rule expression (0: 1,000,000).
	MaxRuleCost int `yaml:"max_rule_cost"`
	// Suppress applies the rules' suppress and threshold blocks (and the
	// threshold and detection_filter of Suricata-format rules) and the
	// suppressions. On when not set; --no-suppress turns it off.
	Suppress *bool `yaml:"suppress"`
	// OrderMemoryMB bounds, in MiB, the sessions a replay holds to judge
	// them in an order that does not depend on the number of workers
	// (0: 8). Past it the oldest are judged early (counted).
	OrderMemoryMB int `yaml:"order_memory_mb"`
	// Vars are the address and port variables of Suricata-format (.rules)
	// files: HOME_NET: "[10.0.0.0/8]". One not set is any. File only.
	Vars map[string]string `yaml:"vars"`
	// ExpiringDays is cert.expiring_soon's window in days (0: 30).
	ExpiringDays int `yaml:"expiring_days"`
	// DoHResolvers replaces the shipped list of DNS-over-HTTPS resolvers
	// (rules/doh-resolvers.txt) with this file, of the same format.
	DoHResolvers string `yaml:"doh_resolvers"`
}

// suppress is rules.suppress: on unless set to false.
func (rc *RulesConfig) suppress() bool { return rc.Suppress == nil || *rc.Suppress }

// IntelList is one threat-intel list file.
type IntelList struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // "ja3", "ja4", "cert_sha1", "domain", "ip"
	File string `yaml:"file"`
}

// ESConfig configures the Elasticsearch sink.
type ESConfig struct {
	URLs       []string `yaml:"urls"`
	Namespace  string   `yaml:"namespace"`
	APIKey     string   `yaml:"api_key"`
	Username   string   `yaml:"username"`
	Password   string   `yaml:"password"`
	CACert     string   `yaml:"ca_cert"`
	ClientCert string   `yaml:"client_cert"`
	ClientKey  string   `yaml:"client_key"`
	SpoolDir   string   `yaml:"spool_dir"`
	SpoolMaxMB int      `yaml:"spool_max_mb"`
	DeadLetter string   `yaml:"dead_letter"`
	Workers    int      `yaml:"workers"`
	FlushBytes int      `yaml:"flush_bytes"`
}

// MetricsConfig configures the Prometheus endpoint and periodic stats logs.
type MetricsConfig struct {
	Addr        string `yaml:"addr"`
	LogInterval string `yaml:"log_interval"` // Go duration; live default 1m; "0" turns the logs off
}

// loadConfig decodes a YAML file strictly: an unknown key is an error that
// names the file, line and key.
func loadConfig(path string) (*Config, error) {
	var cfg Config
	if path == "" {
		return &cfg, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.path = path
	return &cfg, nil
}
