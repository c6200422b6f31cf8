"""Concurrent moves keep the MPTT tree consistent because tree writes take one lock."""

import threading

import pytest
from django.db import connection, connections

from hierarchy.models import User
from hierarchy.services import user_move
from tests.factories import UserFactory


def tree_fields() -> dict[int, tuple[int, int, int, int]]:
    return {u.pk: (u.tree_id, u.lft, u.rght, u.level) for u in User.objects.all()}


@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_leave_a_consistent_tree():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serializes every write anyway")
    roots = [UserFactory(username=f"root{n}") for n in range(2)]
    movers = [[UserFactory(parent=root) for _ in range(6)] for root in roots]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def shuffle(mine: list[User], target: User) -> None:
        try:
            start.wait()
            for user in mine:
                user_move(user=user, new_parent=target)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=shuffle, args=(movers[0], roots[1])),
        threading.Thread(target=shuffle, args=(movers[1], roots[0])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    as_written = tree_fields()
    User.objects.rebuild()
    assert tree_fields() == as_written  # lft/rght as a rebuild from parent links computes them

    def parents(users: list[User]) -> set[int | None]:
        return set(
            User.objects.filter(pk__in=[u.pk for u in users]).values_list("parent_id", flat=True)
        )

    assert parents(movers[0]) == {roots[1].pk}
    assert parents(movers[1]) == {roots[0].pk}
