package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The namespace journal without a mount: the production functions the FUSE node calls, on a backing
// directory, then drop as the control socket runs it.

func backing(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := setupGraveyard(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.ops = nil; j.files = map[uint64]*fileState{} })
	return dir
}

func ok(t *testing.T, errno syscall.Errno) {
	t.Helper()
	if errno != 0 {
		t.Fatal(errno)
	}
}

// create makes a new file as the node's Create would, journaling its name.
func create(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	ok(t, nsCreated(p, nil))
}

// fsyncFile records the file's bytes as durable, as the node's Fsync does.
func fsyncFile(t *testing.T, p string) {
	t.Helper()
	ino, size := inode(t, p)
	j.files[ino] = &fileState{syncedSize: size}
}

func fsyncDir(t *testing.T, d string) {
	t.Helper()
	ino, _ := inode(t, d)
	dirSynced(ino)
}

// durable creates a file and makes its bytes and its name durable.
func durable(t *testing.T, p, content string) {
	t.Helper()
	create(t, p, content)
	fsyncFile(t, p)
	fsyncDir(t, filepath.Dir(p))
}

func dropAll(t *testing.T, dir string) int {
	t.Helper()
	entries, _, _, err := drop(dir)
	if err != nil {
		t.Fatalf("drop: %v", err)
	}
	return entries
}

func wantContent(t *testing.T, p, want string) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%s after drop: %v, want %q", filepath.Base(p), err, want)
	}
	if string(got) != want {
		t.Fatalf("%s after drop: %q, want %q", filepath.Base(p), got, want)
	}
}

func wantGone(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Fatalf("%s after drop: %v, want it gone", filepath.Base(p), err)
	}
}

func wantEmptyGraveyard(t *testing.T, dir string) {
	t.Helper()
	names, err := os.ReadDir(graveyardFor(dir))
	if err != nil || len(names) != 0 {
		t.Fatalf("graveyard: %v %v, want it empty", names, err)
	}
}

func TestAnUnsyncedCreateIsLostEvenWhenTheFileWasFsynced(t *testing.T) {
	dir := backing(t)
	sub := filepath.Join(dir, "db")
	ok(t, func() syscall.Errno { _ = os.Mkdir(sub, 0o755); return nsCreated(sub, nil) }())
	create(t, filepath.Join(sub, "000001.log"), "wal")
	fsyncFile(t, filepath.Join(sub, "000001.log")) // the bytes, not the name
	fsyncDir(t, sub)                               // the name in db, but db's own name is not durable
	create(t, filepath.Join(dir, "identity"), "id")
	fsyncFile(t, filepath.Join(dir, "identity"))
	if n := dropAll(t, dir); n != 2 {
		t.Fatalf("undone %d, want 2 (db and identity)", n)
	}
	wantGone(t, sub)
	wantGone(t, filepath.Join(dir, "identity"))
}

func TestADirectoryFsyncMakesItsEntriesDurable(t *testing.T) {
	dir := backing(t)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	durable(t, a, "synced")
	create(t, b, "late")
	dropAll(t, dir)
	wantContent(t, a, "synced")
	wantGone(t, b)
}

// RocksDB's CURRENT: write CURRENT.tmp, fsync it, rename it over CURRENT, fsync the directory.
func TestARenameOverATargetGoesBackUntilTheDirectoryIsFsynced(t *testing.T) {
	for _, synced := range []bool{false, true} {
		dir := backing(t)
		cur, tmp := filepath.Join(dir, "CURRENT"), filepath.Join(dir, "CURRENT.tmp")
		durable(t, cur, "MANIFEST-1\n")
		create(t, tmp, "MANIFEST-2\n")
		fsyncFile(t, tmp)
		ok(t, nsRename(tmp, cur, 0, nil))
		if synced {
			fsyncDir(t, dir)
		}
		dropAll(t, dir)
		want := map[bool]string{false: "MANIFEST-1\n", true: "MANIFEST-2\n"}[synced]
		wantContent(t, cur, want)
		wantGone(t, tmp)
		wantEmptyGraveyard(t, dir)
	}
}

func TestAnUnlinkedFileComesBackWithItsSyncedBytes(t *testing.T) {
	for _, synced := range []bool{false, true} {
		dir := backing(t)
		p := filepath.Join(dir, "000007.log")
		durable(t, p, "synced-data")
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		ino, size := inode(t, p)
		ok(t, remember(ino, size, 0, 4, f.ReadAt))
		if _, err := f.WriteAt([]byte("LOST"), 0); err != nil { // not fsynced
			t.Fatal(err)
		}
		f.Close()
		ok(t, nsUnlink(p, nil))
		wantGone(t, p)
		if synced {
			fsyncDir(t, dir)
		}
		dropAll(t, dir)
		if synced {
			wantGone(t, p)
		} else {
			wantContent(t, p, "synced-data")
		}
		wantEmptyGraveyard(t, dir)
	}
}

func TestACrossDirectoryRenameNeedsBothDirectoriesFsynced(t *testing.T) {
	dir := backing(t)
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	for _, d := range []string{src, dst} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	from, to := filepath.Join(src, "f"), filepath.Join(dst, "f")
	create(t, from, "x")
	fsyncDir(t, src)
	ok(t, nsRename(from, to, 0, nil))
	fsyncDir(t, dst) // the new name is durable, the old one's removal is not
	dropAll(t, dir)
	wantContent(t, from, "x")
	wantGone(t, to)
}

func TestUndoRunsNewestFirst(t *testing.T) {
	dir := backing(t)
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	durable(t, a, "A")
	durable(t, c, "C")
	// a -> b, c -> a (over nothing), exchange a and b, remove b, make a directory d and remove it.
	ok(t, nsRename(a, b, 0, nil))
	ok(t, nsRename(c, a, unix.RENAME_NOREPLACE, nil))
	ok(t, nsRename(a, b, unix.RENAME_EXCHANGE, nil))
	ok(t, nsUnlink(b, nil))
	d := filepath.Join(dir, "d")
	ok(t, func() syscall.Errno { _ = os.Mkdir(d, 0o700); return nsCreated(d, nil) }())
	ok(t, nsRmdir(d, nil))
	if n := dropAll(t, dir); n != 6 {
		t.Fatalf("undone %d, want 6", n)
	}
	wantContent(t, a, "A")
	wantContent(t, c, "C")
	wantGone(t, b)
	wantGone(t, d)
	wantEmptyGraveyard(t, dir)
}

func TestRenameAndUnlinkRefuseAsTheKernelWould(t *testing.T) {
	dir := backing(t)
	f, d := filepath.Join(dir, "f"), filepath.Join(dir, "d")
	create(t, f, "x")
	if err := os.MkdirAll(filepath.Join(d, "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]syscall.Errno{
		"unlink of a directory":           nsUnlink(d, nil),
		"rename of a file over a dir":     nsRename(f, d, 0, nil),
		"rename of a dir over a file":     nsRename(d, f, 0, nil),
		"noreplace over an existing file": nsRename(d, f, unix.RENAME_NOREPLACE, nil),
	} {
		if got == 0 {
			t.Errorf("%s: succeeded", name)
		}
	}
	wantContent(t, f, "x")
	if nsPending() != 1 {
		t.Fatalf("journal holds %d operations, want 1 (the create)", nsPending())
	}
}

// The chaos suite's wipe (rm -rf of rocksdb/), a new database in its place, then a power loss: the
// old files must not come back into the new directory (seed 1029179697 showed a log with a hole).
func TestARemovedDirectoryDoesNotGetItsEntriesBackOnceItsRemovalIsDurable(t *testing.T) {
	dir := backing(t)
	db := filepath.Join(dir, "rocksdb")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(db, "000004.log")
	durable(t, old, "old wal")
	ok(t, nsUnlink(old, nil)) // owes rocksdb/, which is never fsynced again
	ok(t, nsRmdir(db, nil))   // owes the data directory
	ok(t, func() syscall.Errno { _ = os.Mkdir(db, 0o755); return nsCreated(db, nil) }())
	fsyncDir(t, dir) // the new database's directory made durably
	dropAll(t, dir)
	names, err := os.ReadDir(db)
	if err != nil || len(names) != 0 {
		t.Fatalf("the new rocksdb/ after drop: %v %v, want it empty", names, err)
	}
	wantEmptyGraveyard(t, dir)
}
