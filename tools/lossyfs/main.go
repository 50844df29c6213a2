// lossyfs: a FUSE file system for the chaos suite's disk nemeses (docs/fault-injection.md). It passes
// every operation through to a backing directory and keeps, per file, what it needs to undo the
// writes since that file's last fsync: on "drop" (a power loss) it puts every file back as it was at
// its last fsync, as a page cache lost with the machine would. Beyond Jepsen's LazyFS it also loses
// directory entries: every create, mkdir, link, unlink, rmdir and rename not yet made durable by an
// fsync of its directory is undone at drop, newest first (namespace.go). On command it also fails
// writes with ENOSPC (a full disk) or writes and fsyncs with EIO (a failing disk).
//
// Usage: lossyfs -backing DIR -mount DIR -control SOCKET
// The control socket takes one command per line and answers one line:
//
//	drop          undo every write not yet fsynced and every namespace operation whose directory was
//	              not fsynced since (call it while the writer is stopped)
//	enospc on|off writes, creates and allocations fail with ENOSPC
//	eio on|off    writes and fsyncs fail with EIO
//	status        what is buffered for undo and which faults are on
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// undo is the content a write replaced, within the file's synced size.
type undo struct {
	off int64
	old []byte
}

// fileState is what a file looked like at its last fsync: its size, and the synced bytes that later
// writes replaced (newest last).
type fileState struct {
	syncedSize int64
	undos      []undo
}

type journal struct {
	mu    sync.Mutex
	files map[uint64]*fileState // by the backing file's inode number
}

var (
	j      = &journal{files: map[uint64]*fileState{}}
	enospc atomic.Bool
	eio    atomic.Bool
)

// node is a loopback node whose files record their writes in the journal.
type node struct {
	fs.LoopbackNode
}

func newNode(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
	return &node{fs.LoopbackNode{RootData: r}}
}

func (n *node) backingPath() string {
	return filepath.Join(n.RootData.Path, n.Path(n.Root()))
}

// Direct I/O: the kernel keeps no page cache of its own for these files, so what a reader sees
// after a drop is what the backing files hold.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return &file{LoopbackFile: fh.(*fs.LoopbackFile)}, fl | fuse.FOPEN_DIRECT_IO, 0
}

// Setattr without a file handle (truncate by path) records what the truncation removes.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if sz, ok := in.GetSize(); ok && f == nil {
		var st syscall.Stat_t
		if err := syscall.Stat(n.backingPath(), &st); err == nil {
			if errno := beforeTruncate(st.Ino, st.Size, int64(sz), func(b []byte, off int64) (int, error) {
				fd, err := os.Open(n.backingPath())
				if err != nil {
					return 0, err
				}
				defer fd.Close()
				return fd.ReadAt(b, off)
			}); errno != 0 {
				return errno
			}
		}
	}
	return n.LoopbackNode.Setattr(ctx, f, in, out)
}

type file struct {
	*fs.LoopbackFile
}

func (f *file) stat() (syscall.Stat_t, syscall.Errno) {
	var out fuse.AttrOut
	if errno := f.LoopbackFile.Getattr(context.Background(), &out); errno != 0 {
		return syscall.Stat_t{}, errno
	}
	return syscall.Stat_t{Ino: out.Ino, Size: int64(out.Size)}, 0
}

func (f *file) readAt(b []byte, off int64) (int, error) {
	r, errno := f.LoopbackFile.Read(context.Background(), b, off)
	if errno != 0 {
		return 0, errno
	}
	got, status := r.Bytes(b)
	if !status.Ok() {
		return 0, syscall.EIO
	}
	return copy(b, got), nil
}

// state returns the file's journal entry, creating it (synced as it is now) on first sight.
func state(ino uint64, size int64) *fileState {
	s := j.files[ino]
	if s == nil {
		s = &fileState{syncedSize: size}
		j.files[ino] = s
	}
	return s
}

// remember saves the synced bytes that a write of n bytes at off is about to replace.
func remember(ino uint64, size, off, n int64, read func([]byte, int64) (int, error)) syscall.Errno {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := state(ino, size)
	end := min(off+n, s.syncedSize)
	if end <= off {
		return 0
	}
	old := make([]byte, end-off)
	got, err := read(old, off)
	if err != nil && got < len(old) {
		old = old[:got]
	}
	s.undos = append(s.undos, undo{off: off, old: old})
	return 0
}

func beforeTruncate(ino uint64, size, to int64, read func([]byte, int64) (int, error)) syscall.Errno {
	if to >= size {
		j.mu.Lock()
		state(ino, size)
		j.mu.Unlock()
		return 0
	}
	return remember(ino, size, to, size-to, read)
}

func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if enospc.Load() {
		return 0, syscall.ENOSPC
	}
	if eio.Load() {
		return 0, syscall.EIO
	}
	st, errno := f.stat()
	if errno != 0 {
		return 0, errno
	}
	if errno := remember(st.Ino, st.Size, off, int64(len(data)), f.readAt); errno != 0 {
		return 0, errno
	}
	return f.LoopbackFile.Write(ctx, data, off)
}

func (f *file) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	var total uint32
	for _, d := range data {
		n, errno := f.Write(ctx, d, off+int64(total))
		total += n
		if errno != 0 {
			return total, errno
		}
	}
	return total, 0
}

func (f *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if eio.Load() {
		return syscall.EIO
	}
	if errno := f.LoopbackFile.Fsync(ctx, flags); errno != 0 {
		return errno
	}
	st, errno := f.stat()
	if errno != 0 {
		return errno
	}
	j.mu.Lock()
	j.files[st.Ino] = &fileState{syncedSize: st.Size}
	j.mu.Unlock()
	return 0
}

func (f *file) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if sz, ok := in.GetSize(); ok {
		st, errno := f.stat()
		if errno != 0 {
			return errno
		}
		if errno := beforeTruncate(st.Ino, st.Size, int64(sz), f.readAt); errno != 0 {
			return errno
		}
	}
	return f.LoopbackFile.Setattr(ctx, in, out)
}

func (f *file) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	if enospc.Load() {
		return syscall.ENOSPC
	}
	st, errno := f.stat()
	if errno != 0 {
		return errno
	}
	j.mu.Lock()
	state(st.Ino, st.Size) // an allocation past the synced size is cut back by a drop
	j.mu.Unlock()
	return f.LoopbackFile.Allocate(ctx, off, size, mode)
}

// drop first undoes the namespace operations not yet durable (names back as they were, removed
// files back from the graveyard), then puts every journaled file back to its last fsync: the
// replaced bytes back (newest first), then the size cut back to the synced size.
func drop(backing string) (entries, files, bytes int, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	entries, nsErr := dropNamespace()
	err = filepath.Walk(backing, func(p string, info os.FileInfo, err error) error {
		if err != nil || !info.Mode().IsRegular() {
			return nil //nolint:nilerr // a file removed meanwhile has nothing to undo
		}
		st := info.Sys().(*syscall.Stat_t)
		s := j.files[st.Ino]
		if s == nil || (len(s.undos) == 0 && st.Size == s.syncedSize) {
			return nil
		}
		fd, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer fd.Close()
		for i := len(s.undos) - 1; i >= 0; i-- {
			u := s.undos[i]
			if _, err := fd.WriteAt(u.old, u.off); err != nil {
				return err
			}
			bytes += len(u.old)
		}
		if st.Size != s.syncedSize {
			bytes += int(max(st.Size-s.syncedSize, s.syncedSize-st.Size))
			if err := fd.Truncate(s.syncedSize); err != nil {
				return err
			}
		}
		files++
		return fd.Sync()
	})
	j.files = map[uint64]*fileState{}
	return entries, files, bytes, errors.Join(nsErr, err)
}

func status() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	undoBytes := 0
	for _, s := range j.files {
		for _, u := range s.undos {
			undoBytes += len(u.old)
		}
	}
	return fmt.Sprintf("ok files=%d undo_bytes=%d entries=%d enospc=%t eio=%t", len(j.files), undoBytes, nsPending(), enospc.Load(), eio.Load())
}

func command(backing, line string) string {
	switch line {
	case "drop":
		entries, files, bytes, err := drop(backing)
		if err != nil {
			return "error " + err.Error()
		}
		return fmt.Sprintf("ok dropped entries=%d files=%d bytes=%d", entries, files, bytes)
	case "enospc on", "enospc off":
		enospc.Store(line == "enospc on")
		return status()
	case "eio on", "eio off":
		eio.Store(line == "eio on")
		return status()
	case "status":
		return status()
	}
	return "error unknown command (drop, enospc on|off, eio on|off, status)"
}

func serveControl(l net.Listener, backing string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			s := bufio.NewScanner(c)
			for s.Scan() {
				fmt.Fprintln(c, command(backing, s.Text()))
			}
		}()
	}
}

func main() {
	backing := flag.String("backing", "", "the directory that holds the data")
	mount := flag.String("mount", "", "where to mount the file system")
	control := flag.String("control", "", "the control socket")
	flag.Parse()
	if *backing == "" || *mount == "" || *control == "" {
		log.Fatal("usage: lossyfs -backing DIR -mount DIR -control SOCKET")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(*backing, &st); err != nil {
		log.Fatalf("backing %s: %v", *backing, err)
	}
	if err := setupGraveyard(*backing); err != nil {
		log.Fatalf("graveyard for %s: %v", *backing, err)
	}
	root := &fs.LoopbackRoot{Path: *backing, Dev: uint64(st.Dev), NewNode: newNode}
	root.RootNode = newNode(root, nil, "", &st)
	zero := time.Duration(0)
	server, err := fs.Mount(*mount, root.RootNode, &fs.Options{
		// No attribute or entry caching either: sizes after a drop are the backing files' sizes.
		AttrTimeout:  &zero,
		EntryTimeout: &zero,
		MountOptions: fuse.MountOptions{
			FsName:            "lossyfs",
			Name:              "lossyfs",
			DirectMountStrict: true, // mount(2) as root: no fusermount needed
			AllowOther:        true,
		},
	})
	if err != nil {
		log.Fatalf("mount %s: %v", *mount, err)
	}
	_ = os.Remove(*control)
	l, err := net.Listen("unix", *control)
	if err != nil {
		_ = server.Unmount()
		log.Fatalf("control %s: %v", *control, err)
	}
	go serveControl(l, *backing)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		l.Close()
		_ = server.Unmount()
	}()
	fmt.Println("lossyfs ready")
	server.Wait()
}
