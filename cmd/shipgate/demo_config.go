package main

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// demoData is the demo's configuration template, policy, tokens and roles.
//
//go:embed demodata
var demoData embed.FS

// demoFiles are the files the demo wrote for the gateway.
type demoFiles struct {
	Config    string // the GatewayConfig
	PolicyDir string
	TokenFile string
	RoleFile  string
}

// demoConfigValues fill the configuration template.
type demoConfigValues struct {
	Registry   string // host:port of the demo registry
	ReleaseKey string // PEM public keys
	CIKey      string
	PolicyDir  string
	TokenFile  string
	RoleFile   string
}

// writeDemoConfig writes the demo's policy, its data, the token and role
// files and the configuration into dir. The configuration trusts reg's
// images signed by its release key and test-attested by its CI key.
func writeDemoConfig(dir string, reg *demoRegistry) (demoFiles, error) {
	f := demoFiles{
		Config:    filepath.Join(dir, "gateway.yaml"),
		PolicyDir: filepath.Join(dir, "policies"),
		TokenFile: filepath.Join(dir, "tokens.csv"),
		RoleFile:  filepath.Join(dir, "roles.yaml"),
	}
	if err := os.MkdirAll(f.PolicyDir, 0o755); err != nil {
		return f, err
	}
	// The token file holds bearer tokens: readable by its owner only.
	for _, c := range []struct {
		src, dst string
		mode     os.FileMode
	}{
		{"registries.rego", filepath.Join(f.PolicyDir, "registries.rego"), 0o644},
		{"tokens.csv", f.TokenFile, 0o600},
		{"roles.yaml", f.RoleFile, 0o644},
	} {
		if err := copyDemoFile(c.src, c.dst, c.mode); err != nil {
			return f, err
		}
	}
	// data.shipgate.demo.registries: the registries the policy allows.
	data, err := json.MarshalIndent(map[string]any{"shipgate": map[string]any{"demo": map[string]any{"registries": []string{reg.Host}}}}, "", "  ")
	if err != nil {
		return f, err
	}
	if err := os.WriteFile(filepath.Join(f.PolicyDir, "data.json"), append(data, '\n'), 0o644); err != nil {
		return f, err
	}

	v := demoConfigValues{Registry: reg.Host, PolicyDir: f.PolicyDir, TokenFile: f.TokenFile, RoleFile: f.RoleFile}
	if v.ReleaseKey, err = publicPEM(reg.release); err != nil {
		return f, err
	}
	if v.CIKey, err = publicPEM(reg.ci); err != nil {
		return f, err
	}
	cfg, err := renderDemoConfig(v)
	if err != nil {
		return f, err
	}
	return f, os.WriteFile(f.Config, cfg, 0o644)
}

// renderDemoConfig fills demodata/gateway.yaml.
func renderDemoConfig(v demoConfigValues) ([]byte, error) {
	text, err := demoData.ReadFile("demodata/gateway.yaml")
	if err != nil {
		return nil, err
	}
	tpl, err := template.New("gateway.yaml").Option("missingkey=error").Funcs(template.FuncMap{
		"indent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
	}).Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("reading the demo's configuration template: %w", err)
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("filling the demo's configuration template: %w", err)
	}
	return b.Bytes(), nil
}

func copyDemoFile(name, dst string, mode os.FileMode) error {
	b, err := demoData.ReadFile("demodata/" + name)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}
