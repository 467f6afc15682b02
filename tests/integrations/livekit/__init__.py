from integrations.livekit.provider import LiveKitProvider
from meetings.access import identity_of


def token_for(meeting, person, role: str) -> str:
    """The join token we give ``person``, valid from the teacher's early entry to the close moment."""
    return (
        LiveKitProvider()
        .join_credentials(
            meeting,
            identity=identity_of(person),
            display_name=person.display_name,
            role=role,
            not_before=meeting.teacher_may_join_from,
            expires_at=meeting.close_at,
        )
        .token
    )
