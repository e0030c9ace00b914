"""Do themes form across languages? Translated complaints in one space or in two.

Usage:
    PYTHONPATH=. python bench/crosslingual_themes.py

Data: 12 complaint themes, each written (by hand, for this bench) as the same complaint in English,
Spanish, German, French and Portuguese: 60 comments. For each embedding space it prints
  * retrieval: share of non-English comments whose nearest English comment is its own translation;
  * together: share of the 48 (English, translation) pairs that one clustering puts in the same
    group (agglomerative, average linkage on cosine, 12 groups, so the number of themes is given
    and only the space is tested);
  * purity: share of comments whose group's majority theme is their own.
Spaces: all-MiniLM-L6-v2 (the default, English-only) and USE multilingual v3 (what the pipeline
uses for themes when a month mixes languages).
"""

from __future__ import annotations

import numpy as np

import _env  # noqa: F401  # isort: skip - first: offline models, sys.path

LANGS = ["en", "es", "de", "fr", "pt"]
THEMES = {
    "late delivery": [
        "My order arrived two weeks late.",
        "Mi pedido llegó dos semanas tarde.",
        "Meine Bestellung kam zwei Wochen zu spät an.",
        "Ma commande est arrivée avec deux semaines de retard.",
        "A minha encomenda chegou duas semanas atrasada.",
    ],
    "double charge": [
        "I was charged twice for the same purchase.",
        "Me cobraron dos veces por la misma compra.",
        "Mir wurde derselbe Einkauf zweimal berechnet.",
        "J'ai été débité deux fois pour le même achat.",
        "Fui cobrado duas vezes pela mesma compra.",
    ],
    "refund wait": [
        "I am still waiting for my refund after a month.",
        "Sigo esperando mi reembolso después de un mes.",
        "Ich warte nach einem Monat immer noch auf meine Rückerstattung.",
        "J'attends toujours mon remboursement après un mois.",
        "Ainda estou à espera do meu reembolso depois de um mês.",
    ],
    "rude staff": [
        "The staff at the store were rude to me.",
        "El personal de la tienda fue grosero conmigo.",
        "Das Personal im Laden war unhöflich zu mir.",
        "Le personnel du magasin a été impoli avec moi.",
        "Os funcionários da loja foram mal-educados comigo.",
    ],
    "app crashes": [
        "The app crashes every time I open it.",
        "La aplicación se cierra cada vez que la abro.",
        "Die App stürzt jedes Mal ab, wenn ich sie öffne.",
        "L'application plante à chaque fois que je l'ouvre.",
        "O aplicativo trava toda vez que eu o abro.",
    ],
    "damaged package": [
        "The box was damaged and the glass inside was broken.",
        "La caja estaba dañada y el vaso de dentro estaba roto.",
        "Der Karton war beschädigt und das Glas darin zerbrochen.",
        "Le carton était abîmé et le verre à l'intérieur était cassé.",
        "A caixa estava danificada e o copo lá dentro estava partido.",
    ],
    "long hold": [
        "I waited on hold for an hour before anyone answered the phone.",
        "Esperé una hora al teléfono antes de que alguien contestara.",
        "Ich habe eine Stunde in der Warteschleife gewartet, bevor jemand ans Telefon ging.",
        "J'ai attendu une heure au téléphone avant que quelqu'un ne réponde.",
        "Esperei uma hora ao telefone até alguém atender.",
    ],
    "wrong size": [
        "They sent me the wrong size.",
        "Me enviaron la talla equivocada.",
        "Sie haben mir die falsche Größe geschickt.",
        "Ils m'ont envoyé la mauvaise taille.",
        "Enviaram-me o tamanho errado.",
    ],
    "too expensive": [
        "The prices are far too high for what you get.",
        "Los precios son demasiado altos para lo que ofrecen.",
        "Die Preise sind viel zu hoch für das, was man bekommt.",
        "Les prix sont beaucoup trop élevés pour ce qu'on obtient.",
        "Os preços são altos demais para o que se recebe.",
    ],
    "poor fabric": [
        "The fabric feels cheap and tore after one wash.",
        "La tela parece barata y se rompió después de un lavado.",
        "Der Stoff fühlt sich billig an und ist nach einer Wäsche gerissen.",
        "Le tissu fait bon marché et s'est déchiré après un lavage.",
        "O tecido parece barato e rasgou depois de uma lavagem.",
    ],
    "login problems": [
        "I cannot log in to my account since the last update.",
        "No puedo iniciar sesión en mi cuenta desde la última actualización.",
        "Seit dem letzten Update kann ich mich nicht mehr in mein Konto einloggen.",
        "Je n'arrive plus à me connecter à mon compte depuis la dernière mise à jour.",
        "Não consigo entrar na minha conta desde a última atualização.",
    ],
    "missing items": [
        "Half of the items in my order were missing.",
        "Faltaba la mitad de los artículos de mi pedido.",
        "Die Hälfte der Artikel in meiner Bestellung fehlte.",
        "La moitié des articles de ma commande manquaient.",
        "Faltava metade dos artigos da minha encomenda.",
    ],
}


def measure(vectors: np.ndarray, theme: np.ndarray, lang: np.ndarray) -> dict:
    from sklearn.cluster import AgglomerativeClustering

    x = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    english = np.flatnonzero(lang == "en")
    others = np.flatnonzero(lang != "en")
    sims = x[others] @ x[english].T
    retrieval = float(np.mean(theme[english][sims.argmax(axis=1)] == theme[others]))
    groups = AgglomerativeClustering(n_clusters=len(THEMES), metric="cosine", linkage="average").fit_predict(x)
    together = [groups[i] == groups[j] for i in others for j in english if theme[i] == theme[j]]
    purity = 0
    for g in np.unique(groups):
        members = theme[groups == g]
        purity += np.max(np.unique(members, return_counts=True)[1])
    return {"retrieval": retrieval, "together": float(np.mean(together)), "purity": purity / len(theme)}


def main() -> int:
    from refine.text.embed import SentenceTransformerEmbedder
    from refine.text.embed_multilingual import MultilingualEncoder

    texts, theme, lang = [], [], []
    for name, versions in THEMES.items():
        for code, text in zip(LANGS, versions):
            texts.append(text)
            theme.append(name)
            lang.append(code)
    theme_arr, lang_arr = np.array(theme), np.array(lang)
    print(f"{len(texts)} comments: {len(THEMES)} complaint themes x {len(LANGS)} languages (hand-written)")
    print(f"{'space':<28} {'retrieval':>9} {'together':>9} {'purity':>7}")
    for name, embedder in (
        ("all-MiniLM-L6-v2 (default)", SentenceTransformerEmbedder("default")),
        ("USE multilingual v3", MultilingualEncoder()),
    ):
        m = measure(np.asarray(embedder.encode(texts)), theme_arr, lang_arr)
        print(f"{name:<28} {m['retrieval']:>9.3f} {m['together']:>9.3f} {m['purity']:>7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
