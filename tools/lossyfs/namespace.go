package main

// The namespace journal: every create, mkdir, link, unlink, rmdir and rename since the last fsync of
// the directories it changed, undone newest first by "drop", as a power cut loses directory entries
// that no directory fsync made durable (ext4 and xfs without a directory fsync can lose a new
// file's name, or bring back a renamed or removed one).
//
// Strict on purpose: only an fsync of the directory itself makes an entry durable. An fsync of a
// file makes its bytes durable (main.go), not its name; POSIX does not promise more, and although
// ext4's data=ordered journal often commits the name with the data, nothing guarantees it.
//
// An unlinked file, or a rename's replaced target, is not removed until its removal is durable: it
// is moved aside into the graveyard (a directory beside the backing one, on the same file system),
// so a drop can put it back under its name, with its inode and so its synced bytes.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

type opKind int

const (
	opCreate   opKind = iota // path appeared (a file, directory, node, symlink or hard link)
	opUnlink                 // path (not a directory) was removed; saved holds it
	opRmdir                  // the empty directory path was removed
	opRename                 // from was renamed to path; saved holds the entry it replaced, if any
	opExchange               // from and path swapped (RENAME_EXCHANGE)
)

type nsOp struct {
	kind  opKind
	path  string      // backing path the operation created, removed, or renamed to
	from  string      // a rename's old backing path
	saved string      // graveyard path of a removed or replaced entry ("" if none)
	mode  os.FileMode // a removed directory's mode
	gone  uint64      // a removed directory's own inode number
	// dirs are the backing inode numbers of the directories whose fsync is still owed.
	dirs map[uint64]bool
	// forget drops go-fuse's cached children under the names an undo changes (nil in tests).
	forget func()
}

type nsJournal struct {
	ops       []*nsOp
	graveyard string
	seq       int
}

// ns is guarded by j.mu, like the file-data journal: a drop undoes both under one lock.
var ns = &nsJournal{}

func graveyardFor(backing string) string { return filepath.Clean(backing) + ".lossyfs-undo" }

// setupGraveyard empties (or makes) the graveyard of a backing directory.
func setupGraveyard(backing string) error {
	g := graveyardFor(backing)
	if err := os.RemoveAll(g); err != nil {
		return err
	}
	ns.graveyard = g
	return os.MkdirAll(g, 0o700)
}

func dirIno(p string) (uint64, syscall.Errno) {
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return 0, errnoOf(err)
	}
	return st.Ino, 0
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}

func (n *nsJournal) add(op *nsOp, dirs ...string) syscall.Errno {
	op.dirs = map[uint64]bool{}
	for _, d := range dirs {
		ino, errno := dirIno(d)
		if errno != 0 {
			return errno
		}
		op.dirs[ino] = true
	}
	n.ops = append(n.ops, op)
	return 0
}

// moveAside renames p into the graveyard and returns its new path.
func (n *nsJournal) moveAside(p string) (string, syscall.Errno) {
	if n.graveyard == "" {
		return "", syscall.EIO // setupGraveyard was not called: refuse rather than lose the entry for good
	}
	n.seq++
	g := filepath.Join(n.graveyard, strconv.Itoa(n.seq))
	if err := os.Rename(p, g); err != nil {
		return "", errnoOf(err)
	}
	return g, 0
}

// nsCreated records that path appeared in its parent directory.
func nsCreated(path string, forget func()) syscall.Errno {
	return ns.add(&nsOp{kind: opCreate, path: path, forget: forget}, filepath.Dir(path))
}

// nsUnlink removes path (not a directory), keeping it in the graveyard until the removal is durable.
func nsUnlink(path string, forget func()) syscall.Errno {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return errnoOf(err)
	}
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		return syscall.EISDIR
	}
	g, errno := ns.moveAside(path)
	if errno != 0 {
		return errno
	}
	op := &nsOp{kind: opUnlink, path: path, saved: g, forget: forget}
	if errno := ns.add(op, filepath.Dir(path)); errno != 0 {
		_ = os.Rename(g, path)
		return errno
	}
	return 0
}

// nsRmdir removes the empty directory path; a drop makes it again (empty, with its mode).
func nsRmdir(path string, forget func()) syscall.Errno {
	fi, err := os.Lstat(path)
	if err != nil {
		return errnoOf(err)
	}
	if err := syscall.Rmdir(path); err != nil {
		return errnoOf(err)
	}
	op := &nsOp{kind: opRmdir, path: path, mode: fi.Mode().Perm(), gone: fi.Sys().(*syscall.Stat_t).Ino, forget: forget}
	return ns.add(op, filepath.Dir(path))
}

// nsRename renames from to to (flags as renameat2: 0, RENAME_NOREPLACE or RENAME_EXCHANGE). A
// replaced target goes to the graveyard first, checked as rename(2) would check it.
func nsRename(from, to string, flags uint32, forget func()) syscall.Errno {
	dirs := []string{filepath.Dir(from), filepath.Dir(to)}
	if flags&unix.RENAME_EXCHANGE != 0 {
		if err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_EXCHANGE); err != nil {
			return errnoOf(err)
		}
		return ns.add(&nsOp{kind: opExchange, path: to, from: from, forget: forget}, dirs...)
	}
	if flags&^unix.RENAME_NOREPLACE != 0 {
		return syscall.EINVAL // RENAME_WHITEOUT: overlayfs only
	}
	var src, dst syscall.Stat_t
	if err := syscall.Lstat(from, &src); err != nil {
		return errnoOf(err)
	}
	saved := ""
	if err := syscall.Lstat(to, &dst); err == nil {
		if flags&unix.RENAME_NOREPLACE != 0 {
			return syscall.EEXIST
		}
		if src.Ino == dst.Ino {
			return 0 // rename(2) of two links to one file does nothing
		}
		srcDir, dstDir := src.Mode&syscall.S_IFMT == syscall.S_IFDIR, dst.Mode&syscall.S_IFMT == syscall.S_IFDIR
		switch {
		case dstDir && !srcDir:
			return syscall.EISDIR
		case srcDir && !dstDir:
			return syscall.ENOTDIR
		case dstDir:
			if names, err := os.ReadDir(to); err != nil || len(names) > 0 {
				return syscall.ENOTEMPTY
			}
		}
		g, errno := ns.moveAside(to)
		if errno != 0 {
			return errno
		}
		saved = g
	}
	if err := os.Rename(from, to); err != nil {
		if saved != "" {
			_ = os.Rename(saved, to)
		}
		return errnoOf(err)
	}
	return ns.add(&nsOp{kind: opRename, path: to, from: from, saved: saved, forget: forget}, dirs...)
}

// dirSynced is called after an fsync of a directory: what it owed that directory is durable, and an
// operation owing no directory any more is no longer undone (its graveyard entry really goes). A
// durable rmdir makes durable what was removed from that directory before it: a directory that is
// gone for good cannot get its entries back (nor could an undo put them anywhere but into a new
// directory of the same name: the wipe of a data directory, then a power loss, did that).
func dirSynced(ino uint64) {
	for todo := []uint64{ino}; len(todo) > 0; {
		ino, todo = todo[0], todo[1:]
		kept := ns.ops[:0]
		for _, op := range ns.ops {
			delete(op.dirs, ino)
			if len(op.dirs) > 0 {
				kept = append(kept, op)
				continue
			}
			if op.saved != "" {
				_ = os.RemoveAll(op.saved)
			}
			if op.kind == opRmdir {
				todo = append(todo, op.gone)
			}
		}
		clear(ns.ops[len(kept):])
		ns.ops = kept
	}
}

func (op *nsOp) undo() error {
	switch op.kind {
	case opCreate:
		return os.RemoveAll(op.path)
	case opUnlink:
		return os.Rename(op.saved, op.path)
	case opRmdir:
		return os.Mkdir(op.path, op.mode)
	case opRename:
		if err := os.Rename(op.path, op.from); err != nil {
			return err
		}
		if op.saved != "" {
			return os.Rename(op.saved, op.path)
		}
		return nil
	case opExchange:
		return unix.Renameat2(unix.AT_FDCWD, op.from, unix.AT_FDCWD, op.path, unix.RENAME_EXCHANGE)
	}
	return fmt.Errorf("unknown operation %d", op.kind)
}

// dropNamespace undoes every operation not yet durable, newest first, and empties the graveyard.
// It returns how many it undid. An undo that fails (a later durable operation moved its path, e.g.
// a durable rename of the directory it was in) is reported, and the others still undone.
func dropNamespace() (undone int, err error) {
	var errs []error
	for i := len(ns.ops) - 1; i >= 0; i-- {
		op := ns.ops[i]
		if e := op.undo(); e != nil {
			errs = append(errs, fmt.Errorf("undo of %s: %w", op.path, e))
			continue
		}
		if op.forget != nil {
			op.forget()
		}
		undone++
	}
	ns.ops = nil
	if ns.graveyard != "" {
		entries, _ := os.ReadDir(ns.graveyard)
		for _, e := range entries {
			_ = os.RemoveAll(filepath.Join(ns.graveyard, e.Name()))
		}
	}
	return undone, errors.Join(errs...)
}

func nsPending() int { return len(ns.ops) }
