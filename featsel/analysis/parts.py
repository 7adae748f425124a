"""The parts a system's cost is broken down into.

A :class:`Breakdown` names the modules to hook (``modules``) and how their
measured amounts (FLOPs or seconds spent inside each, children included)
combine into the reported parts (``combine``). Systems register theirs by
model class with :func:`register_breakdown`; any other model is broken
down into its top-level children.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping

from torch import nn

#: model class name -> breakdown maker
BREAKDOWNS: Dict[str, Callable[[nn.Module], 'Breakdown']] = {}


@dataclass
class Breakdown:
    """Modules to measure and how they make the reported parts.

    Args:
        modules (list[str]): Module names to hook.
        combine (Callable): ``spent`` (module name -> amount, ``''`` the
            whole run) -> part -> amount, in report order.
    """

    modules: List[str]
    combine: Callable[[Mapping[str, float]], Dict[str, float]]


def register_breakdown(*class_names: str):
    """Register a breakdown maker for models of ``class_names``."""

    def register(maker):
        for name in class_names:
            BREAKDOWNS[name] = maker
        return maker

    return register


def breakdown(model: nn.Module) -> Breakdown:
    """The registered breakdown of ``model``'s class (or a base class),
    else its top-level children plus ``total``."""
    for cls in type(model).__mro__:
        if cls.__name__ in BREAKDOWNS:
            return BREAKDOWNS[cls.__name__](model)
    children = [name for name, _ in model.named_children()]

    def combine(spent: Mapping[str, float]) -> Dict[str, float]:
        parts = {name: spent.get(name, 0) for name in children}
        parts['total'] = spent['']
        return parts

    return Breakdown(children, combine)


def moe_layers(model: nn.Module) -> Dict[str, nn.Module]:
    """Mixture-of-experts FFN layers by module name."""
    from featsel.models.layers import MoEFFN
    return {n: m for n, m in model.named_modules() if isinstance(m, MoEFFN)}


#: RT-DETR parts in report order; 'selection + head' is what is left:
#: query selection (encoder output projection, top-k) and the box head.
RTDETR_PARTS = ('backbone', 'encoder transformer', 'fusion', 'decoder',
                'selection + head', 'encoder MoE', 'decoder MoE', 'total')


@register_breakdown('RTDETR')
def rtdetr_breakdown(model: nn.Module) -> Breakdown:
    """Backbone; encoder transformer (the AIFI layers and the token pruner);
    fusion (the CCFM: the rest of the hybrid encoder); decoder; query
    selection + head; and the MoE layers inside encoder and decoder."""
    neck = model.neck
    # module lists have no forward: hook the transformer layers themselves
    transformer = [f'neck.encoders.{i}.{j}'
                   for i, layers in enumerate(neck.encoders)
                   for j in range(len(layers))]
    if getattr(neck, 'pruner', None) is not None:
        transformer.append('neck.pruner')
    moe = list(moe_layers(model))
    moe_enc = [n for n in moe if n.startswith('neck.')]
    moe_dec = [n for n in moe if n.startswith('decoder.')]

    def combine(spent: Mapping[str, float]) -> Dict[str, float]:
        def total(names):
            return sum(spent.get(n, 0) for n in names)

        parts = dict(backbone=spent.get('backbone', 0),
                     **{'encoder transformer': total(transformer)})
        parts['fusion'] = spent.get('neck', 0) - parts['encoder transformer']
        parts['decoder'] = spent.get('decoder', 0)
        parts['selection + head'] = (spent[''] - parts['backbone'] -
                                     spent.get('neck', 0) - parts['decoder'])
        parts['encoder MoE'] = total(moe_enc)
        parts['decoder MoE'] = total(moe_dec)
        parts['total'] = spent['']
        return parts

    return Breakdown(['backbone', 'neck', 'decoder'] + transformer + moe,
                     combine)


#: multi-modal ReID parts in report order; the rest of 'total' is the
#: preprocessing, pooling and concatenation
REID_PARTS = ('backbone', 'projection', 'selectors', 'heads', 'total')


@register_breakdown('MultiModalReID')
def reid_breakdown(model: nn.Module) -> Breakdown:
    """The ViT backbone(s) (one, or one per modality), the projection(s)
    to the embedding width, the token selectors (one per modality; none in
    a baseline) and the BNNeck heads (at inference they run only for
    features taken after the neck)."""
    groups = {
        'backbone': [f'backbones.{i}' for i in range(len(model.backbones))],
        'projection': [f'projections.{i}'
                       for i in range(len(model.projections))],
        'selectors': [f'selectors.{m}' for m in (model.selectors or {})],
        'heads': [f'heads.{b}' for b in model.heads],
    }

    def combine(spent: Mapping[str, float]) -> Dict[str, float]:
        parts = {part: sum(spent.get(n, 0) for n in names)
                 for part, names in groups.items()}
        parts['total'] = spent['']
        return parts

    return Breakdown([n for names in groups.values() for n in names],
                     combine)
