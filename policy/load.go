package policy

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxFileSize bounds one policy or data file: 1 MiB is what a ConfigMap can
// hold, and the directory is usually mounted ConfigMaps.
const maxFileSize = 1 << 20

// LoadDir reads a directory tree of policy into a Bundle: every ".rego"
// file as a module named by its path (dir joined with the relative path,
// as compile errors report it), and every "data.json", "data.yaml" or
// "data.yml" as the data document at the path of its directory relative to
// dir, as in an OPA bundle.
//
// Entries whose name starts with "." are skipped: a mounted ConfigMap keeps
// its real files under "..data" and "..<timestamp>" and links them from the
// top, so each file is read once, through its link. Links to files are
// followed, links to directories are not (no cycles).
func LoadDir(dir string) (*Bundle, error) {
	b := NewBundle()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading policy directory: %w", err)
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		name := d.Name()
		isRego := strings.HasSuffix(name, ".rego")
		isData := name == "data.json" || name == "data.yaml" || name == "data.yml"
		if !isRego && !isData {
			return nil
		}
		info, err := os.Stat(p) // follows a link to a file
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		if info.Size() > maxFileSize {
			return fmt.Errorf("reading %s: %d bytes is over the limit of %d", p, info.Size(), maxFileSize)
		}
		content, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		if isRego {
			b.AddModule(filepath.ToSlash(p), string(content), RegoAuto)
			return nil
		}
		rel, err := filepath.Rel(dir, filepath.Dir(p))
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		return b.AddDataFile(filepath.ToSlash(p), path.Clean(filepath.ToSlash(rel)), content)
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}
