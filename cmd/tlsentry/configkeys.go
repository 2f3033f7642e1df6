package main

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Configuration keys, environment and flags agree: every leaf of Config has
// a dotted key (its YAML path, "capture.ring_size_mb") and an environment
// variable named from it (TLSENTRY_CAPTURE_RING_SIZE_MB). Flags that set a
// key name it in liveFlagKeys / the sensor's flags. Precedence, lowest
// first: the file (--config), the environment, the command line.
//
// Lists are comma-separated in the environment. rules.intel (a list of
// objects) is set in the file only.

// envPrefix starts every environment variable tlsentry reads.
const envPrefix = "TLSENTRY_"

// envName is the environment variable of a dotted key.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// configKeys lists every dotted key that the environment can set.
func configKeys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			key := prefix + name
			switch {
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, key+".")
			case settable(f.Type):
				keys = append(keys, key)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return keys
}

func settable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Int, reflect.Bool:
		return true
	case reflect.Pointer:
		return t.Elem().Kind() == reflect.Bool
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

// field finds the settable field of a dotted key.
func field(cfg *Config, key string) (reflect.Value, error) {
	v := reflect.ValueOf(cfg).Elem()
	for _, part := range strings.Split(key, ".") {
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, fmt.Errorf("unknown configuration key %q", key)
		}
		found := false
		for i := range v.NumField() {
			if strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0] == part {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}, fmt.Errorf("unknown configuration key %q", key)
		}
	}
	if !settable(v.Type()) {
		return reflect.Value{}, fmt.Errorf("configuration key %q cannot be set from text", key)
	}
	return v, nil
}

// setKey sets one dotted key from its text form.
func setKey(cfg *Config, key, val string) error {
	v, err := field(cfg, key)
	if err != nil {
		return err
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(val)
	case reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("%s: %q is not an integer", key, val)
		}
		v.SetInt(int64(n))
	case reflect.Bool, reflect.Pointer:
		b, err := strconv.ParseBool(strings.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("%s: %q is not true or false", key, val)
		}
		if v.Kind() == reflect.Pointer {
			v.Set(reflect.ValueOf(&b))
		} else {
			v.SetBool(b)
		}
	case reflect.Slice:
		var list []string
		for _, s := range strings.Split(val, ",") {
			if s = strings.TrimSpace(s); s != "" {
				list = append(list, s)
			}
		}
		v.Set(reflect.ValueOf(list))
	}
	return nil
}

// applyEnv sets every key whose TLSENTRY_* variable is in environ (os.Environ
// form). A value that does not parse is an error naming the variable.
// Variables that name no key are left alone (scripts use TLSENTRY_SKIP_ES
// and the like).
func applyEnv(cfg *Config, environ []string) error {
	env := make(map[string]string)
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, envPrefix) {
			env[k] = v
		}
	}
	if len(env) == 0 {
		return nil
	}
	for _, key := range configKeys() {
		val, ok := env[envName(key)]
		if !ok {
			continue
		}
		if err := setKey(cfg, key, val); err != nil {
			return fmt.Errorf("environment %s: %v", envName(key), err)
		}
	}
	return nil
}
