from .identity_selector import IdentitySelector

__all__ = ['IdentitySelector']
