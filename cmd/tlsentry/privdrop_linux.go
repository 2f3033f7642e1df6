//go:build linux

package main

import (
	"fmt"
	"os/user"
	"strconv"
	"syscall"
)

// dropPrivileges switches the whole process (every thread: Go >= 1.16
// applies setuid/setgid to all of them on Linux) to the user name, its
// primary group and its supplementary groups. Sockets opened before keep
// working. It fails when the switch cannot be made or could be undone.
func dropPrivileges(name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("user %q: %v", name, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("user %q: uid %q: %v", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("user %q: gid %q: %v", name, u.Gid, err)
	}
	if syscall.Getuid() == uid && syscall.Geteuid() == uid && syscall.Getgid() == gid {
		return nil // already that user
	}
	groups := []int{gid}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.Atoi(s); err == nil && g != gid {
				groups = append(groups, g)
			}
		}
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("user %q: setgroups: %v", name, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("user %q: setgid %d: %v", name, gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("user %q: setuid %d: %v", name, uid, err)
	}
	if uid != 0 && syscall.Setuid(0) == nil {
		return fmt.Errorf("user %q: root could be regained after setuid", name)
	}
	return nil
}
