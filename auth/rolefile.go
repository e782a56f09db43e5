package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/shipgate/shipgate/internal/yamlerr"
)

// RoleFile authorises from a static file, for local use where there is no
// cluster to ask. It reads like RBAC:
//
//	roles:
//	- name: approver
//	  rules:
//	  - resources: [approvals]
//	    verbs: [get, list, approve, reject]
//	bindings:
//	- role: approver
//	  namespaces: ["prod-*"]   # globs; none means every namespace
//	  users: [alice]
//	  groups: [release-managers]
//
// "*" in resources or verbs matches all.
type RoleFile struct {
	Roles    []Role        `yaml:"roles"`
	Bindings []RoleBinding `yaml:"bindings"`
}

// Role is a named set of rules.
type Role struct {
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
}

// Rule allows verbs on resources.
type Rule struct {
	Resources []string `yaml:"resources"`
	Verbs     []string `yaml:"verbs"`
}

// RoleBinding grants a role to users and groups in namespaces.
type RoleBinding struct {
	Role       string   `yaml:"role"`
	Namespaces []string `yaml:"namespaces,omitempty"`
	Users      []string `yaml:"users,omitempty"`
	Groups     []string `yaml:"groups,omitempty"`
}

var _ Authorizer = (*RoleFile)(nil)

// LoadRoleFile reads and checks a role file; errors carry file and line.
func LoadRoleFile(file string) (*RoleFile, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading role file: %w", err)
	}
	return ParseRoleFile(file, data)
}

// ParseRoleFile reads the role file format; name is used in errors.
func ParseRoleFile(name string, data []byte) (*RoleFile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var rf RoleFile
	if err := dec.Decode(&rf); err != nil {
		p := yamlerr.Split(err, data)[0]
		return nil, fmt.Errorf("%s:%d: %s", name, p.Line, p.Msg)
	}
	roles := map[string]bool{}
	for i, r := range rf.Roles {
		if r.Name == "" || roles[r.Name] {
			return nil, fmt.Errorf("%s: roles[%d]: name empty or repeated", name, i)
		}
		roles[r.Name] = true
	}
	for i, b := range rf.Bindings {
		if !roles[b.Role] {
			return nil, fmt.Errorf("%s: bindings[%d]: no role %q", name, i, b.Role)
		}
		for _, ns := range b.Namespaces {
			if _, err := path.Match(ns, ""); err != nil {
				return nil, fmt.Errorf("%s: bindings[%d]: namespace pattern %q: %w", name, i, ns, err)
			}
		}
	}
	return &rf, nil
}

// Authorize allows the action when a binding naming the user or one of its
// groups, in a matching namespace, grants a role with a rule for the
// resource and verb.
func (rf *RoleFile) Authorize(_ context.Context, u *User, a Attributes) (bool, string, error) {
	if u == nil {
		return false, "", errors.New("authorising: no user")
	}
	for _, b := range rf.Bindings {
		if !slices.Contains(b.Users, u.Name) && !slices.ContainsFunc(b.Groups, u.InGroup) {
			continue
		}
		if !namespaceMatches(b.Namespaces, a.Namespace) {
			continue
		}
		for _, r := range rf.Roles {
			if r.Name == b.Role && r.allows(a) {
				return true, "", nil
			}
		}
	}
	return false, fmt.Sprintf("%s may not %s %s.%s in namespace %q", u.Name, a.Verb, a.Resource, Group, a.Namespace), nil
}

// namespaceMatches: no patterns means every namespace; a request for all
// namespaces ("") needs a binding without patterns.
func namespaceMatches(patterns []string, ns string) bool {
	if len(patterns) == 0 {
		return true
	}
	if ns == "" {
		return false
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, ns); ok {
			return true
		}
	}
	return false
}

func (r Role) allows(a Attributes) bool {
	for _, rule := range r.Rules {
		if matchesAny(rule.Resources, a.Resource) && matchesAny(rule.Verbs, a.Verb) {
			return true
		}
	}
	return false
}

func matchesAny(list []string, s string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, s)
}
