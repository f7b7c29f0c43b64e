package flw

import (
	"math"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultEnvironment returns envi's lines after zookeeper.version with the
// keys ZooKeeper 3.8 prints, in its order, filled with this process's
// nearest equivalents: the java.* keys describe the Go runtime and the
// executable, os.memory.* the Go heap. Tools only look for the keys (and
// kazoo for zookeeper.version), so keeping them all matters more than the
// values.
func DefaultEnvironment() []EnvEntry {
	host, _ := os.Hostname()
	exe, _ := os.Executable()
	wd, _ := os.Getwd()
	uname, home := os.Getenv("USER"), os.Getenv("HOME")
	if u, err := user.Current(); err == nil {
		uname, home = u.Username, u.HomeDir
	}
	osVersion := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		osVersion = strings.TrimSpace(string(b))
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	total := ms.HeapSys
	free := ms.HeapIdle - ms.HeapReleased
	limit := debug.SetMemoryLimit(-1)
	maxMem := total
	if limit > 0 && limit < math.MaxInt64 {
		maxMem = uint64(limit)
	}
	mb := func(n uint64) string { return strconv.FormatUint(n>>20, 10) + "MB" }
	return []EnvEntry{
		{"host.name", host},
		{"java.version", runtime.Version()},
		{"java.vendor", "Go"},
		{"java.home", filepath.Dir(exe)},
		{"java.class.path", exe},
		{"java.library.path", os.Getenv("LD_LIBRARY_PATH")},
		{"java.io.tmpdir", os.TempDir()},
		{"java.compiler", "<NA>"},
		{"os.name", javaOSName(runtime.GOOS)},
		{"os.arch", javaArch(runtime.GOARCH)},
		{"os.version", osVersion},
		{"user.name", uname},
		{"user.home", home},
		{"user.dir", wd},
		{"os.memory.free", mb(free)},
		{"os.memory.max", mb(maxMem)},
		{"os.memory.total", mb(total)},
	}
}

// javaOSName is the os.name a JVM reports on this GOOS.
func javaOSName(goos string) string {
	switch goos {
	case "linux":
		return "Linux"
	case "darwin":
		return "Mac OS X"
	case "windows":
		return "Windows"
	case "freebsd":
		return "FreeBSD"
	case "openbsd":
		return "OpenBSD"
	case "netbsd":
		return "NetBSD"
	case "solaris", "illumos":
		return "SunOS"
	}
	return goos
}

// javaArch is the os.arch a JVM reports on this GOARCH.
func javaArch(goarch string) string {
	switch goarch {
	case "arm64":
		return "aarch64"
	case "386":
		return "x86"
	}
	return goarch
}
