package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The undo journal without a mount: what drop puts back is each file as it was at its last fsync.

func inode(t *testing.T, p string) (uint64, int64) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino, st.Size
}

func TestDropRestoresOverwritesAndCutsAppends(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "wal")
	if err := os.WriteFile(p, []byte("synced-data"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	write := func(b []byte, off int64) {
		ino, size := inode(t, p)
		if errno := remember(ino, size, off, int64(len(b)), f.ReadAt); errno != 0 {
			t.Fatal(errno)
		}
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	write([]byte("XX"), 0)         // overwrites synced bytes
	write([]byte("-appended"), 11) // past the synced size
	write([]byte("YYYY"), 1)       // overwrites an overwrite
	ino, size := inode(t, p)
	if errno := beforeTruncate(ino, size, 3, f.ReadAt); errno != 0 { // cuts synced bytes off
		t.Fatal(errno)
	}
	if err := f.Truncate(3); err != nil {
		t.Fatal(err)
	}
	_, files, _, err := drop(dir)
	if err != nil || files != 1 {
		t.Fatalf("drop: files=%d err=%v", files, err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "synced-data" {
		t.Fatalf("after drop: %q, want the synced %q", got, "synced-data")
	}
}

func TestAFsyncedFileIsLeftAlone(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sst")
	if err := os.WriteFile(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	ino, size := inode(t, p)
	j.mu.Lock()
	j.files[ino] = &fileState{syncedSize: size} // as Fsync records it
	j.mu.Unlock()
	_, files, bytes, err := drop(dir)
	if err != nil || files != 0 || bytes != 0 {
		t.Fatalf("drop of a synced file: files=%d bytes=%d err=%v", files, bytes, err)
	}
}
