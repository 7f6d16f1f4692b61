// The operator's own documentation, sanitised: a bad snippet cannot run script here
// (and the Content-Security-Policy would refuse it anyway).
import DOMPurify from "dompurify";
import { useMemo } from "react";
import { useAuth } from "../lib/auth";

export function GuidePage() {
  const { config } = useAuth();
  return <GuideView appName={config.app_name} html={config.docs_html} apiDocs={config.api_docs_path} />;
}

export function sanitize(html: string): string {
  return DOMPurify.sanitize(html, {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select"],
    FORBID_ATTR: ["style"],
  });
}

export function GuideView({ appName, html, apiDocs }: { appName: string; html: string; apiDocs: string }) {
  const clean = useMemo(() => sanitize(html), [html]);
  return (
    <section className="page guide">
      <div className="page-head">
        <h1>Docs</h1>
        <a className="button" href={apiDocs}>
          API reference
        </a>
      </div>
      {clean.trim() ? (
        <div className="operator-docs" dangerouslySetInnerHTML={{ __html: clean }} />
      ) : (
        <div className="operator-docs">
          <p>
            Each key you make in {appName} lets requests through to the services behind it. Send it as{" "}
            <code>Authorization: Bearer &lt;key&gt;</code>.
          </p>
          <p className="muted">
            Operators can put their own text here with <code>[frontend] docs_html</code> or <code>docs_html_file</code>.
          </p>
        </div>
      )}
      <p>
        Scripts and tools can manage keys through the REST API too: see the <a href={apiDocs}>API reference</a>.
      </p>
    </section>
  );
}
