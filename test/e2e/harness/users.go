package harness

import (
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The people and programs the API server knows, by static token.
const (
	// Admin sets the cluster up (system:masters).
	Admin = "admin"
	// ControllerManager is kube-controller-manager's own identity; its
	// controllers then act as their service accounts.
	ControllerManager = "system:kube-controller-manager"
	// Deployer rolls things out (group developers, may edit workloads).
	Deployer = "deployer"
	// Alice, Bob and Carol approve production rollouts (release-managers).
	Alice = "alice"
	Bob   = "bob"
	Carol = "carol"
	// Oncall may let one rollout through alone (sre-oncall, break-glass).
	Oncall = "oncall"
	// Auditor reads the audit log (auditors).
	Auditor = "auditor"
)

// The groups of those users.
const (
	GroupDevelopers      = "developers"
	GroupReleaseManagers = "release-managers"
	GroupSREOncall       = "sre-oncall"
	GroupAuditors        = "auditors"
)

// User is someone the API server knows by a static token.
type User struct {
	Name   string
	Groups []string
	Token  string
}

// newUsers gives every user a fresh random token.
func newUsers() (map[string]User, error) {
	all := []User{
		{Name: Admin, Groups: []string{"system:masters"}},
		{Name: ControllerManager},
		{Name: Deployer, Groups: []string{GroupDevelopers}},
		{Name: Alice, Groups: []string{GroupReleaseManagers, GroupDevelopers}},
		{Name: Bob, Groups: []string{GroupReleaseManagers, GroupDevelopers}},
		{Name: Carol, Groups: []string{GroupReleaseManagers, GroupDevelopers}},
		{Name: Oncall, Groups: []string{GroupSREOncall, GroupDevelopers}},
		{Name: Auditor, Groups: []string{GroupAuditors}},
	}
	users := make(map[string]User, len(all))
	for _, u := range all {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("making a token for %s: %w", u.Name, err)
		}
		u.Token = hex.EncodeToString(b)
		users[u.Name] = u
	}
	return users, nil
}

// writeTokenFile writes the API server's --token-auth-file:
// token,user,uid,"group1,group2".
func writeTokenFile(dir string, users map[string]User) (string, error) {
	path := filepath.Join(dir, "tokens.csv")
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("writing the token file: %w", err)
	}
	defer f.Close()
	w := csv.NewWriter(f)
	for _, u := range users {
		rec := []string{u.Token, u.Name, u.Name}
		if len(u.Groups) > 0 {
			rec = append(rec, strings.Join(u.Groups, ","))
		}
		if err := w.Write(rec); err != nil {
			return "", fmt.Errorf("writing the token file: %w", err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return "", fmt.Errorf("writing the token file: %w", err)
	}
	return path, nil
}
