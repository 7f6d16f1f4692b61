// Admin: one owner's keys, with the same actions as on "My keys".
import { Link, useParams } from "react-router-dom";
import { KeysPage } from "./keys-page";

export function OwnerKeysPage() {
  const { owner = "" } = useParams();
  return (
    <>
      <nav className="breadcrumbs" aria-label="Breadcrumbs">
        <Link to="/admin/owners">Owners</Link> <span aria-hidden="true">›</span> <span>{owner}</span>
      </nav>
      <KeysPage key={owner} scope={{ kind: "owner", owner }} title={`Keys of ${owner}`} />
    </>
  );
}
