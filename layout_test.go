package stepup

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/caddy-stepup/stepup/"

// deps lists the packages pkg imports, directly and not.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// imports lists the packages the non-test files of dir import directly.
func imports(t *testing.T, dir string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, module+dir).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", dir, err)
	}
	return strings.Fields(string(out))
}

// The flows know nothing of Caddy: gateway, and everything it imports, is Caddy-free.
func TestGatewayIsCaddyFree(t *testing.T) {
	for _, p := range deps(t, "gateway") {
		if strings.HasPrefix(p, "github.com/caddyserver/") || p == module+"caddymodule" || p == module+"sms" {
			t.Errorf("package gateway depends on %s", p)
		}
	}
}

// Policy decides without I/O: no network, files, store, Caddy or HTTP, even
// indirectly.
func TestPolicyHasNoIO(t *testing.T) {
	for _, p := range imports(t, "policy") {
		switch {
		case p == "os" || p == "io" || p == "io/fs" || p == "syscall" || p == "database/sql" || p == "os/exec":
			t.Errorf("package policy imports %s", p)
		case strings.HasPrefix(p, "net") && p != "net/url":
			t.Errorf("package policy imports %s", p)
		}
	}
	for _, p := range deps(t, "policy") {
		if p == "net/http" || p == "net" || (strings.HasPrefix(p, "github.com/") && p != module+"policy") {
			t.Errorf("package policy depends on %s", p)
		}
	}
}

// caddymodule is glue: it builds the parts and hands requests to the gateway. It
// renders no page, reads no request body, and runs no step of a flow itself.
func TestCaddymoduleHoldsNoFlow(t *testing.T) {
	for _, p := range imports(t, "caddymodule") {
		switch p {
		case module + "web", "html/template", "mime", "mime/multipart", "net/url", "encoding/base64", "io":
			t.Errorf("caddymodule imports %s: flow work belongs in package gateway", p)
		}
	}
	// Calls that are steps of a flow, on the challenge service or the tokens.
	flowCalls := []string{"Begin", "Challenge", "VerifyTOTP", "VerifySMS", "SendSMSCode", "StartTOTPBinding",
		"ConfirmTOTPBinding", "StartPhoneBinding", "ConfirmPhoneBinding", "UnbindTOTP", "RemovePhone", "Hold",
		"TakeHeld", "Factors", "Issue", "Parse", "Live", "Revoke", "RevokeUser", "RevokeStepUps", "Decide", "DecideLogin",
		"DecideChange", "Classify", "ReadPath"}
	files, _ := filepath.Glob("caddymodule/*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		// Calls into other packages by their name (time.Parse) are not ours, nor are
		// those into our packages of words and looks (locale.Parse reads a setting).
		otherPackages := map[string]bool{}
		for _, imp := range file.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			if !strings.HasPrefix(path, module) || path == module+"locale" || path == module+"brand" {
				name := path[strings.LastIndexByte(path, '/')+1:]
				if imp.Name != nil {
					name = imp.Name.Name
				}
				otherPackages[name] = true
			}
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if pkg, isIdent := sel.X.(*ast.Ident); isIdent && otherPackages[pkg.Name] {
					return true
				}
				// A store decorator (timing each call for metrics) forwards to the store
				// it wraps: s.Store.Live(...) is the store's call, not a flow's step.
				if inner, ok := sel.X.(*ast.SelectorExpr); ok && inner.Sel.Name == "Store" {
					return true
				}
				if slices.Contains(flowCalls, sel.Sel.Name) {
					t.Errorf("%s: caddymodule calls %s, a step of a flow: it belongs in package gateway", fset.Position(call.Pos()), sel.Sel.Name)
				}
			}
			return true
		})
	}
}
