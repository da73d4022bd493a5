"""Workers write back only the stages their handlers say they touched: with these tests loaded, every save
also checks that no other stage changed (an untracked change would be lost)."""

from gennaker.engine.unit import Unit

Unit.verify_touched = True
