// Admin: every owner's keys in one list (the console's "Keys"), searched on the server
// (`?q=` in the URL, so the header's search and the overview can link to a search).
import { KeysPage } from "./keys-page";

export function AllKeysPage() {
  return (
    <KeysPage
      scope={{ kind: "all" }}
      title="Keys"
      intro="Every owner’s keys. Search them below (owner:NAME for one owner’s); “New key” asks first whose key it is."
    />
  );
}
