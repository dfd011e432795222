"""The papers' published numbers, keyed like our metrics, to print beside ours in reports and sweep tables."""
from __future__ import annotations

# DSA Table 1 (Sprites, factorised q): disagreement, KL-recon, KL-random per judge head.
DSA_TABLE1 = {
    "body": (0.0398, 0.7847, 8.8859),  # "skin colour"
    "bottomwear": (0.0182, 0.3565, 8.9293),  # "pants"
    "topwear": (0.0034, 0.0647, 8.9173),  # "tops"
    "hair": (0.0006, 0.0126, 8.9566),  # "hairstyle"
    "action": (0.0811, 0.9027, 13.7510),
}
# DSA Table 2 (TIMIT speaker verification EER): (guide, dim f = dim z) -> (EER of mu_f, EER of mu_z).
DSA_TABLE2 = {
    ("factorised", 16): (0.0478, 0.1784),
    ("factorised", 64): (0.0494, 0.1749),
    ("full", 16): (0.0564, 0.1920),
    ("full", 64): (0.0482, 0.1889),
}
# VDSM Table 1 (Sprites, fractions): accuracy consistency, identity-embedding accuracy, dynamics-embedding accuracy.
VDSM_TABLE1 = {
    "body": (0.9967, 0.9867, 0.5267),
    "topwear": (0.9967, 0.9967, 0.4733),  # "shirt"
    "bottomwear": (0.9900, 0.9767, 0.3167),  # "pant"
    "hair": (1.0000, 0.9933, 0.2100),
    "action": (0.9933, 0.4500, 0.9933),
}
# Grathwohl & Wilson Table 1 (Bouncing MNIST, 4 latent features): (model, KL weight beta) -> D-score of eq. 19.
GW_TABLE1 = {
    ("hierarchical_vae", 1.0): 6.71, ("hierarchical_vae", 2.0): 6.74, ("hierarchical_vae", 4.0): 6.82,
    ("slow_vae", 1.0): 4.70, ("slow_vae", 2.0): 5.78, ("slow_vae", 4.0): 6.38,
    ("frame_vae", 1.0): 1.08, ("frame_vae", 2.0): 1.70, ("frame_vae", 4.0): 1.71,
}


def published(metrics: dict) -> dict[str, float]:
    """The paper's number for every flattened metric key (as in the sweep table) of this run that a paper reports."""
    found: dict[str, float] = {}
    if "dsa_table1" in metrics and metrics.get("data") == "sprites":
        for head, row in DSA_TABLE1.items():
            found |= {f"dsa_table1.{head}.{name}": value for name, value in zip(("disagreement", "kl_recon", "kl_random"), row)}
    if "embedding_accuracy" in metrics and metrics.get("data") in ("sprites", "sprites_vdsm"):
        groups = metrics["embedding_accuracy"]["accuracy"]
        motion = "action" if "action" in groups else "dynamics"  # VDSM's "dynamics embedding" is its action latent d
        for factor, (consistency, identity, dynamics) in VDSM_TABLE1.items():
            found |= {f"consistency.{factor}": consistency, f"embedding_accuracy.accuracy.static.{factor}": identity,
                      f"embedding_accuracy.accuracy.{motion}.{factor}": dynamics}
    speech = metrics.get("dsa_table2")
    if speech and (row := DSA_TABLE2.get((metrics.get("guide"), speech["static_dim"]))):
        found |= {"dsa_table2.eer_static": row[0], "dsa_table2.eer_dynamics": row[1]}
    if "gw_disentanglement" in metrics and (score := GW_TABLE1.get((metrics.get("model"), float(metrics.get("beta", 1.0))))):
        found["gw_disentanglement.d_score"] = score
    return found
